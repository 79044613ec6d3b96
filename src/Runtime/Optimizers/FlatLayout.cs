using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>A fused optimizer: its gradients are a few ranges of flat buffers (what <see cref="GradScaler"/> unscales and checks).</summary>
internal interface IFlatOptimizer
{
    /// <summary>The gradients the next step uses, as views created in the caller's dispose scope.</summary>
    IEnumerable<Tensor> GradientRanges();

    /// <summary>How the parameter groups map onto the flat buffers (as of the last step).</summary>
    FlatLayout Layout { get; }

    /// <summary>Bytes of optimizer state held in flat buffers.</summary>
    long StateBytes { get; }

    /// <summary>How many parameter groups were added so far: the parameters changed when it did.</summary>
    long GroupsAdded { get; }
}

/// <summary>Contiguous parameters of one parameter group in one flat group: updated by one kernel per operation and chunk.</summary>
internal sealed record FlatRange(FlatGroup Group, long Offset, long Count, ParamGroup ParamGroup, IReadOnlyList<FlatEntry> Entries)
{
    /// <summary>
    /// Elements an optimizer updates at once. Its temporaries (AdamW's denominator, SGD's decayed gradient) are
    /// full-size copies of what it updates: chunks of 4 Mi elements cap them at 16 MB each instead of 4 bytes per
    /// parameter of the model, at a few kernels per chunk.
    /// </summary>
    public const long DefaultChunkElements = 1L << 22;

    /// <summary>The range as (offset in the flat buffer, count) pieces of at most <paramref name="chunkElements"/>.</summary>
    public IEnumerable<(long Offset, long Count)> Chunks(long chunkElements)
    {
        for (long start = 0; start < Count; start += chunkElements)
        {
            yield return (Offset + start, Math.Min(chunkElements, Count - start));
        }
    }
}

/// <summary>
/// Maps a fused optimizer's parameter groups onto the flat buffers of its model (<see cref="FlatBuffers"/>):
/// runs of adjacent parameters of one group become one <see cref="FlatRange"/>. With
/// <paramref name="flattenTheRest"/> (a fused optimizer) the trainable floating parameters that no precision model
/// holds (a plain fp32 module, or a precision model before its first forward) are moved into flat buffers of the
/// layout's own, exactly as a precision model moves its masters; a precision model's first forward later moves its
/// parameters out of them into its own buffers (a build: the ranges are resolved again and the rest re-flattened).
/// Any other parameter (frozen, not floating, or every unplaced one without <paramref name="flattenTheRest"/>) is
/// <see cref="Loose"/> and updated on its own.
/// </summary>
internal sealed class FlatLayout(Module model, bool flattenTheRest = false) : IDisposable
{
    private long buildsSeen = -1;
    private List<FlatBuffers> flats = new();
    private FlatBuffers? own;

    public IReadOnlyList<FlatRange> Ranges { get; private set; } = new List<FlatRange>();

    public IReadOnlyList<(Parameter Parameter, ParamGroup Group)> Loose { get; private set; } = new List<(Parameter, ParamGroup)>();

    /// <summary>How many parameters the groups held at the last <see cref="Update"/>.</summary>
    public int ParameterCount { get; private set; }

    /// <summary>The flat buffers the ranges lie in.</summary>
    public IReadOnlyList<FlatBuffers> Flats => flats;

    /// <summary>
    /// Recomputes the ranges when some flat layout was built or replaced since the last call (or when
    /// <paramref name="force"/>): true when it did, and the optimizer must move its state into the new ranges.
    /// </summary>
    public bool Update(IEnumerable<ParamGroup> groups, bool force)
    {
        if (!force && buildsSeen == FlatBuffers.Builds && flats.TrueForAll(f => f.IsCurrent))
        {
            return false;
        }

        flats = MixedPrecisionState.FlatBuffersWithin(model).ToList();
        if (flattenTheRest)
        {
            FlattenTheRest(groups);
        }

        buildsSeen = FlatBuffers.Builds;
        var located = new List<(FlatGroup Group, FlatEntry Entry, ParamGroup ParamGroup)>();
        var loose = new List<(Parameter, ParamGroup)>();
        foreach (var group in groups)
        {
            foreach (var parameter in group.Parameters)
            {
                // A frozen parameter is updated alone, so that it is skipped like TorchSharp skips it (no gradient).
                if (parameter.requires_grad && Locate(parameter) is { } place)
                {
                    located.Add((place.Group, place.Entry, group));
                }
                else
                {
                    loose.Add((parameter, group));
                }
            }
        }

        var ranges = new List<FlatRange>();
        // A tied weight is in the groups once per handle: it is updated once, as PyTorch's parameters() lists it once.
        foreach (var inGroup in located.DistinctBy(x => x.Entry).GroupBy(x => x.Group))
        {
            var run = new List<FlatEntry>();
            ParamGroup? runGroup = null;
            foreach (var (flatGroup, entry, paramGroup) in inGroup.OrderBy(x => x.Entry.Offset))
            {
                if (run.Count > 0 && (!ReferenceEquals(paramGroup, runGroup) || run[^1].Offset + run[^1].Count != entry.Offset))
                {
                    ranges.Add(Range(flatGroup, run, runGroup!));
                    run = new List<FlatEntry>();
                }

                run.Add(entry);
                runGroup = paramGroup;
            }

            ranges.Add(Range(inGroup.Key, run, runGroup!));
        }

        Ranges = ranges;
        Loose = loose;
        ParameterCount = located.Count + loose.Count;
        return true;
    }

    /// <summary>The ranges' gradients (views of the flat buffers, created in the caller's dispose scope), then the loose parameters'.</summary>
    public IEnumerable<Tensor> Gradients() =>
        Ranges.Select(r => r.Group.Gradients!.narrow(0, r.Offset, r.Count))
            .Concat(Loose.Select(l => l.Parameter.grad).OfType<Tensor>());

    /// <summary>Zeroes the gradients in place: one kernel per range, one per loose parameter that has a gradient.</summary>
    public void ZeroGradients()
    {
        foreach (var gradient in Gradients())
        {
            gradient.zero_();
        }
    }

    /// <summary>Gradients are views of the flat buffers (the first of each checked, O(1); see <see cref="FlatBuffers.AttachGradients"/>).</summary>
    public void AttachGradients() => flats.ForEach(f => f.AttachGradients(everyParameter: false));

    /// <summary>Releases the layout's own buffers (the parameters keep their storage).</summary>
    public void Dispose() => own?.Dispose();

    /// <summary>
    /// Puts the trainable floating parameters of <paramref name="groups"/> that no precision model holds into the
    /// layout's own flat buffers (<see cref="FlatBuffers.Build"/> without shadows), rebuilt only when that set changed.
    /// </summary>
    private void FlattenTheRest(IEnumerable<ParamGroup> groups)
    {
        var rest = groups.SelectMany(g => g.Parameters)
            .Where(p => p.requires_grad && p.is_floating_point() && Locate(p) is null)
            .DistinctBy(TensorAlias.Of)
            .ToList();
        // Still holding them: another fused optimizer over the same parameters may have moved them into its buffers.
        var unchanged = own is not null && own.Groups.Sum(g => g.Entries.Count) == rest.Count
            && rest.TrueForAll(p => own.TryLocate(p, out _, out _)) && own.Groups.All(HoldsItsParameters);
        if (!unchanged)
        {
            // The old buffers' storage lives on in any parameter, gradient or state still viewing it.
            own?.Dispose();
            own = rest.Count == 0 ? null : FlatBuffers.Build(Array.Empty<ShadowSlot>(), rest);
        }

        if (own is not null)
        {
            flats.Add(own);
        }
    }

    private static bool HoldsItsParameters(FlatGroup group) => group.Entries.All(e =>
        FlatBuffers.DataPointer(e.Parameter) == FlatBuffers.DataPointer(group.Masters) + e.Offset * group.Masters.ElementSize);

    private (FlatGroup Group, FlatEntry Entry)? Locate(Parameter parameter)
    {
        foreach (var flat in flats)
        {
            if (flat.TryLocate(parameter, out var group, out var entry))
            {
                return (group, entry);
            }
        }

        return null;
    }

    private static FlatRange Range(FlatGroup group, List<FlatEntry> run, ParamGroup paramGroup) =>
        new(group, run[0].Offset, run[^1].Offset + run[^1].Count - run[0].Offset, paramGroup, run);
}
