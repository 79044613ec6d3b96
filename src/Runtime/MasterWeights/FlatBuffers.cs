using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Threading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// The flat buffers of one precision model (Apex O2 / DeepSpeed layout): its own floating parameters live as
/// views of one contiguous master buffer per device and dtype, the half shadows as views of one half buffer
/// per shadow dtype, the widened fp32 copies likewise, and the master gradients in one flat buffer. Refreshing
/// the shadows and zeroing the gradients are then a few kernels per buffer whatever the number of parameters.
/// </summary>
/// <remarks>
/// <para><b>Identity.</b> Each parameter is moved into its buffer with <c>set_</c>, so the Parameter objects
/// that the modules, <c>parameters()</c>, <c>state_dict()</c> and existing optimizers hold stay the same;
/// TorchSharp's loads write into them in place, so a load writes into the buffer.</para>
/// <para><b>Order.</b> In a master buffer, per shadow dtype: the widened slots' masters, then the native
/// slots', then the parameters without a shadow; within each, matrices before vectors (biases, norm weights),
/// so a "no weight decay on vectors" parameter group is a few contiguous ranges. The half buffer of a shadow
/// dtype mirrors its masters' range (refresh: one <c>copy_</c>); the widened buffer mirrors the half buffer's
/// first part (one <c>copy_</c>).</para>
/// <para><b>Gradients.</b> Allocated before the first generated backward or fused-optimizer step (an
/// inference-only model has none): master gradients only (fp32; none for a frozen parameter), each <c>.grad</c> a
/// view, so autograd accumulates in place. For the generated backward, <see cref="AttachShadowGradients"/> makes
/// each shadow's (or widened copy's) <c>.grad</c> its master's gradient view too: autograd's accumulation adds the
/// half gradient into the fp32 view as it is produced (<c>grad += new_grad</c> promotes), so no half gradient is
/// ever stored and nothing is left to move; <see cref="ReleaseShadowGradients"/> drops those references after the
/// backward. A backward the runtime did not prepare (a hand-written loop) leaves autograd's own gradients on the
/// shadows, which <see cref="MoveGradients"/> adds one by one. A gradient a hand-written loop cleared
/// (<c>model.zero_grad()</c> sets it to null) or replaced is put back by <see cref="AttachGradients"/>: its value
/// copied into the buffer, the view reassigned.</para>
/// </remarks>
internal sealed class FlatBuffers : IDisposable
{
    private static long builds;

    private readonly List<FlatGroup> groups;

    private FlatBuffers(List<FlatGroup> groups)
    {
        this.groups = groups;
        Interlocked.Increment(ref builds);
    }

    /// <summary>How many flat layouts were built in this process: an optimizer re-resolves its ranges when it moved.</summary>
    public static long Builds => Interlocked.Read(ref builds);

    public IReadOnlyList<FlatGroup> Groups => groups;

    /// <summary>True once shadow gradients reached the masters (a backward whose shadow gradients never moved is warned about).</summary>
    public bool EverMoved { get; private set; }

    /// <summary>False once a newer layout replaced this one (e.g. after <c>to(device)</c>).</summary>
    public bool IsCurrent { get; private set; } = true;

    /// <summary>
    /// Moves <paramref name="parameters"/> (the model's own floating parameters, slot masters included) into flat
    /// buffers and the slots' shadows and widened copies into theirs. A master shared by two slots (tied weights)
    /// is placed once and both shadows become views of its segment; parameters are told apart by
    /// <see cref="TensorAlias"/>, not by handle.
    /// </summary>
    public static FlatBuffers Build(IReadOnlyList<ShadowSlot> slots, IEnumerable<Parameter> parameters)
    {
        using var noGrad = no_grad();
        var slotsByMaster = slots.GroupBy(s => TensorAlias.Of(s.Master)).ToDictionary(g => g.Key, g => g.ToList());
        var unique = parameters.Where(p => p.is_floating_point()).DistinctBy(TensorAlias.Of).ToList();
        var groups = new List<FlatGroup>();
        foreach (var byDevice in unique.GroupBy(p => (p.device.type, p.device.index, p.dtype)))
        {
            groups.Add(FlatGroup.Create(byDevice.ToList(), slotsByMaster));
        }

        return new FlatBuffers(groups);
    }

    /// <summary>
    /// True when some parameter no longer lives in its buffer: TorchSharp's <c>to(device)</c>/<c>to(dtype)</c> replaced
    /// it (disposing the old object) or moved its storage (a module whose weights live in native code). Shadow slots
    /// notice a replaced master themselves; this also covers the parameters that have no shadow.
    /// </summary>
    public bool IsStale => groups.Any(group => group.IsStale);

    /// <summary>Where <paramref name="parameter"/> lives, if it is one of this layout's.</summary>
    public bool TryLocate(Parameter parameter, out FlatGroup group, out FlatEntry entry)
    {
        foreach (var candidate in groups)
        {
            if (candidate.TryLocate(parameter, out entry))
            {
                group = candidate;
                return true;
            }
        }

        (group, entry) = (null!, null!);
        return false;
    }

    /// <summary>Copies the masters into the half shadows and those into the widened copies: two kernels per shadow dtype.</summary>
    public void Refresh()
    {
        using var noGrad = no_grad();
        foreach (var group in groups)
        {
            group.Refresh();
        }
    }

    /// <summary>How many times <see cref="SyncRequiresGrad"/> ran (a test hook: a step that changed no flag reads none).</summary>
    internal int RequiresGradSyncs { get; private set; }

    /// <summary>
    /// Makes every shadow and widened copy require a gradient exactly when its master does: one host-side flag per
    /// slot, read only when a master may have been frozen or unfrozen (<see cref="ShadowWeights.MastersChanged"/>).
    /// </summary>
    public void SyncRequiresGrad()
    {
        foreach (var segment in groups.SelectMany(g => g.Shadows))
        {
            segment.SyncRequiresGrad();
        }

        RequiresGradSyncs++;
    }

    /// <summary>
    /// Makes every master gradient a view of its flat buffer (those of parameters that require one), allocating
    /// the buffers the first time. When <paramref name="everyParameter"/> is false only the first master of each
    /// buffer is checked (O(1)), and all of them when it was not its view: a loop that clears gradients
    /// (<c>model.zero_grad()</c>) clears them all.
    /// </summary>
    public void AttachGradients(bool everyParameter)
    {
        using var noGrad = no_grad();
        foreach (var group in groups)
        {
            group.AttachGradients(everyParameter);
        }
    }

    /// <summary>
    /// Before a backward: attaches the master gradients (<see cref="AttachGradients"/>, first of each buffer
    /// checked) and makes every shadow's (or widened copy's) gradient its master's gradient view, so the backward
    /// accumulates straight into the fp32 master gradients. Host-side bookkeeping: no kernel, no tensor created after
    /// the first call.
    /// </summary>
    public void AttachShadowGradients()
    {
        AttachGradients(everyParameter: false);
        foreach (var group in groups)
        {
            group.AttachShadowGradients();
        }
    }

    /// <summary>After the backward that <see cref="AttachShadowGradients"/> prepared: its gradients are in the masters; the shadows let go of them.</summary>
    public void ReleaseShadowGradients()
    {
        foreach (var group in groups)
        {
            group.ReleaseShadowGradients();
        }

        EverMoved = true;
    }

    /// <summary>
    /// After a backward the runtime did not prepare (a hand-written loop, which may also have cleared or replaced
    /// gradients): every master gradient is checked to be its buffer's view, each shadow's gradient (autograd's own)
    /// is added into its master's and dropped: a kernel per shadow that has one.
    /// </summary>
    public void MoveGradients()
    {
        AttachGradients(everyParameter: true);
        using var noGrad = no_grad();
        foreach (var group in groups)
        {
            group.MoveShadowGradients();
        }

        EverMoved = true;
    }

    /// <summary>Zeroes the master gradients in place: one kernel per buffer.</summary>
    public void ZeroGradients()
    {
        using var noGrad = no_grad();
        foreach (var group in groups)
        {
            group.Gradients?.zero_();
        }
    }

    public PersistentBytes PersistentBytes => groups.Aggregate(default(PersistentBytes), (sum, g) => sum + g.PersistentBytes);

    public void Dispose()
    {
        IsCurrent = false;
        foreach (var group in groups)
        {
            group.Dispose();
        }
    }

    /// <summary>Address of a tensor's first element: how a gradient is recognised as still being its buffer's view.</summary>
    internal static long DataPointer(Tensor tensor) => (long)TensorData(tensor.Handle);

    // TorchSharp 0.107 exposes no data pointer for device tensors; its own binding is the one reliable source.
    private static readonly Func<IntPtr, IntPtr> TensorData = typeof(Tensor).Assembly
        .GetType("TorchSharp.PInvoke.NativeMethods", throwOnError: true)!
        .GetMethod("THSTensor_data", BindingFlags.Static | BindingFlags.NonPublic)!
        .CreateDelegate<Func<IntPtr, IntPtr>>();
}

/// <summary>
/// What makes two tensors one parameter: the same first element, dtype, shape and strides. A weight tied between two
/// modules (GPT-2's embedding and output head) can reach the runtime as two TorchSharp handles on one tensor — a
/// native-backed <c>Embedding</c> hands out a new handle at each read of its weight — and flattening it once per
/// handle would split it in two, each half trained by one of its uses.
/// </summary>
internal readonly record struct TensorAlias(long Address, ScalarType Dtype, string Layout)
{
    public static TensorAlias Of(Tensor tensor) => new(
        // Empty tensors may share an address without sharing anything; their handle tells them apart.
        tensor.numel() > 0 ? FlatBuffers.DataPointer(tensor) : -(long)tensor.Handle,
        tensor.dtype,
        string.Join(',', tensor.shape) + "/" + string.Join(',', tensor.stride()));
}

/// <summary>One parameter's place in its group's master buffer.</summary>
internal sealed record FlatEntry(Parameter Parameter, long Offset, long Count);

/// <summary>The flat buffers of the parameters of one device and dtype.</summary>
internal sealed class FlatGroup : IDisposable
{
    private readonly Dictionary<IntPtr, FlatEntry> entriesByHandle;
    private readonly Dictionary<long, FlatEntry> entriesByAddress;

    private FlatGroup(Tensor masters, List<FlatEntry> entries, List<ShadowSegment> shadows)
    {
        Masters = masters;
        Entries = entries;
        Shadows = shadows;
        entriesByHandle = entries.ToDictionary(e => e.Parameter.Handle);
        entriesByAddress = entries.Where(e => e.Count > 0)
            .ToDictionary(e => FlatBuffers.DataPointer(masters) + e.Offset * masters.ElementSize);
    }

    /// <summary>
    /// See <see cref="FlatBuffers.IsStale"/>. A replaced parameter is a disposed one (a handle check, no native call);
    /// a move in place moves every parameter of the model, so one data-pointer read per group sees it.
    /// </summary>
    public bool IsStale => Entries.Any(e => e.Parameter.IsInvalid) ||
        (entriesByAddress.FirstOrDefault() is { Value: not null } first && FlatBuffers.DataPointer(first.Value.Parameter) != first.Key);

    /// <summary>The entry of <paramref name="parameter"/>, or of another handle on the same tensor (a tied weight read through a second module).</summary>
    public bool TryLocate(Parameter parameter, out FlatEntry entry) =>
        entriesByHandle.TryGetValue(parameter.Handle, out entry!)
        || (entriesByAddress.TryGetValue(FlatBuffers.DataPointer(parameter), out entry!) && TensorAlias.Of(entry.Parameter) == TensorAlias.Of(parameter));

    public Tensor Masters { get; }

    /// <summary>The master gradients; null until the first move.</summary>
    public Tensor? Gradients { get; private set; }

    /// <summary>Entries in buffer order.</summary>
    public IReadOnlyList<FlatEntry> Entries { get; }

    public IReadOnlyList<ShadowSegment> Shadows { get; }

    public PersistentBytes PersistentBytes => new(
        Masters: Bytes(Masters), MasterGradients: Bytes(Gradients), HalfShadows: Shadows.Sum(s => Bytes(s.Half)),
        WidenedCopies: Shadows.Sum(s => Bytes(s.Widened)), OptimizerState: 0);

    internal static FlatGroup Create(List<Parameter> parameters, Dictionary<TensorAlias, List<ShadowSlot>> slotsByMaster)
    {
        // Per shadow dtype: widened masters, native masters; then plain parameters; matrices before vectors in each.
        var ordered = parameters
            .Select(p => (Parameter: p, Slots: slotsByMaster.GetValueOrDefault(TensorAlias.Of(p))))
            .OrderBy(x => x.Slots is null ? 1 : 0)
            .ThenBy(x => x.Slots is null ? 0 : (int)x.Slots[0].Shadow.dtype)
            .ThenBy(x => x.Slots is not null && x.Slots[0].Widened is null ? 1 : 0)
            .ThenBy(x => x.Parameter.dim() >= 2 ? 0 : 1)
            .ToList();
        var first = ordered[0].Parameter;
        var total = ordered.Sum(x => x.Parameter.numel());
        var masters = empty(new[] { total }, first.dtype, first.device).DetachFromDisposeScope();
        var entries = new List<FlatEntry>(ordered.Count);
        var offset = 0L;
        foreach (var (parameter, _) in ordered)
        {
            var count = parameter.numel();
            var view = View(masters, offset, parameter);
            view.copy_(parameter);
            parameter.set_(view);
            entries.Add(new FlatEntry(parameter, offset, count));
            offset += count;
        }

        var shadows = new List<ShadowSegment>();
        foreach (var run in ordered.Zip(entries).Where(x => x.First.Slots is not null)
                     .GroupBy(x => x.First.Slots![0].Shadow.dtype))
        {
            shadows.Add(ShadowSegment.Create(masters, run.Select(x => (x.Second, x.First.Slots!)).ToList()));
        }

        return new FlatGroup(masters, entries, shadows);
    }

    internal void Refresh()
    {
        foreach (var segment in Shadows)
        {
            segment.Refresh(Masters);
        }
    }

    internal void AttachGradients(bool everyParameter)
    {
        if (Gradients is null)
        {
            Gradients = zeros_like(Masters).DetachFromDisposeScope();
            everyParameter = true;
        }

        // A frozen parameter keeps no gradient, so that TorchSharp's optimizers skip it as before.
        var trainable = Entries.Where(e => e.Parameter.requires_grad);
        if (!everyParameter && trainable.FirstOrDefault() is { } first && Attach(first.Parameter, Gradients, first.Offset))
        {
            return;
        }

        foreach (var entry in trainable)
        {
            Attach(entry.Parameter, Gradients, entry.Offset);
        }
    }

    internal void AttachShadowGradients()
    {
        foreach (var segment in Shadows)
        {
            segment.AttachGradients(Gradients!);
        }
    }

    internal void ReleaseShadowGradients()
    {
        foreach (var segment in Shadows)
        {
            segment.ReleaseGradients();
        }
    }

    internal void MoveShadowGradients()
    {
        foreach (var segment in Shadows)
        {
            segment.MoveGradients(Gradients!);
        }
    }

    /// <summary>
    /// Makes <paramref name="parameter"/>'s gradient the view of <paramref name="buffer"/> at <paramref name="offset"/>, keeping its value.
    /// Returns true when it already was.
    /// </summary>
    internal static bool Attach(Parameter parameter, Tensor buffer, long offset)
    {
        using var view = View(buffer, offset, parameter);
        using var gradient = parameter.grad;
        if (gradient is not null && FlatBuffers.DataPointer(gradient) == FlatBuffers.DataPointer(view))
        {
            return true;
        }

        if (gradient is null)
        {
            view.zero_();
        }
        else
        {
            view.copy_(gradient);
        }

        parameter.grad = view;
        return false;
    }

    internal static Tensor View(Tensor buffer, long offset, Tensor like) =>
        buffer.narrow(0, offset, like.numel()).view(like.shape);

    /// <summary>Copies a tensor (e.g. optimizer state) into its place in a flat buffer and makes it a view of that place (same object).</summary>
    internal static void MoveInto(Tensor tensor, Tensor buffer, FlatEntry entry)
    {
        using var view = View(buffer, entry.Offset, entry.Parameter);
        view.copy_(tensor);
        tensor.set_(view);
    }

    internal static long Bytes(Tensor? tensor) => tensor is null ? 0 : tensor.numel() * tensor.ElementSize;

    public void Dispose()
    {
        Masters.Dispose();
        Gradients?.Dispose();
        foreach (var segment in Shadows)
        {
            segment.Dispose();
        }
    }
}

/// <summary>
/// The half shadows of one shadow dtype: <see cref="Half"/> mirrors the masters at
/// [<see cref="Offset"/>, +<see cref="Count"/>), whose first <see cref="WidenedCount"/> elements belong to
/// widened slots (mirrored again by <see cref="Widened"/>), the rest to natively-half slots.
/// </summary>
internal sealed class ShadowSegment : IDisposable
{
    private readonly List<(ShadowSlot Slot, long Offset)> slots;

    // Per slot, the view of its master's gradient that the copy the layer computes with gets as .grad: made once,
    // so a step attaches gradients without creating tensors.
    private List<Tensor>? gradientViews;

    private ShadowSegment(long offset, long count, long widenedCount, Tensor half, Tensor? widened, List<(ShadowSlot, long)> slots)
    {
        Offset = offset;
        Count = count;
        WidenedCount = widenedCount;
        Half = half;
        Widened = widened;
        this.slots = slots;
    }

    public long Offset { get; }

    public long Count { get; }

    public long WidenedCount { get; }

    public Tensor Half { get; }

    public Tensor? Widened { get; }

    internal static ShadowSegment Create(Tensor masters, List<(FlatEntry Entry, List<ShadowSlot> Slots)> run)
    {
        var offset = run[0].Entry.Offset;
        var count = run.Sum(x => x.Entry.Count);
        var widenedCount = run.Where(x => x.Slots[0].Widened is not null).Sum(x => x.Entry.Count);
        var dtype = run[0].Slots[0].Shadow.dtype;
        var half = masters.narrow(0, offset, count).to(dtype, copy: true).DetachFromDisposeScope();
        var widened = widenedCount == 0 ? null : half.narrow(0, 0, widenedCount).to(ScalarType.Float32, copy: true).DetachFromDisposeScope();
        var placed = new List<(ShadowSlot, long)>();
        foreach (var (entry, slots) in run)
        {
            var local = entry.Offset - offset;
            foreach (var slot in slots)
            {
                if (slot.Widened is null != slots[0].Widened is null)
                {
                    throw new NotSupportedException($"A weight shared by a widened and a natively-half layer ({slot.Name}) is not supported.");
                }

                slot.Shadow.set_(FlatGroup.View(half, local, slot.Shadow));
                slot.Widened?.set_(FlatGroup.View(widened!, local, slot.Widened));
                placed.Add((slot, local));
            }
        }

        return new ShadowSegment(offset, count, widenedCount, half, widened, placed);
    }

    internal void Refresh(Tensor masters)
    {
        using (var source = masters.narrow(0, Offset, Count))
        {
            Half.copy_(source);
        }

        if (Widened is not null)
        {
            using var source = Half.narrow(0, 0, WidenedCount);
            Widened.copy_(source);
        }
    }

    /// <summary>Host-side flags only (no tensor, no kernel): masters frozen or unfrozen since the build.</summary>
    internal void SyncRequiresGrad()
    {
        foreach (var (slot, _) in slots)
        {
            slot.SyncRequiresGrad();
        }
    }

    internal void AttachGradients(Tensor masterGradients)
    {
        gradientViews ??= slots.Select(s => PersistentView(masterGradients, Offset + s.Offset, s.Slot.Master)).ToList();
        foreach (var ((slot, _), view) in slots.Zip(gradientViews))
        {
            slot.ComputedWith.grad = view;
        }
    }

    internal void ReleaseGradients()
    {
        foreach (var (slot, _) in slots)
        {
            slot.ComputedWith.grad = null;
        }
    }

    internal void MoveGradients(Tensor masterGradients)
    {
        foreach (var (slot, offset) in slots)
        {
            var copy = slot.ComputedWith;
            using var gradient = copy.grad;
            if (gradient is not null)
            {
                using var target = FlatGroup.View(masterGradients, Offset + offset, slot.Master);
                target.add_(gradient);
                copy.grad = null;
            }
        }
    }

    private static Tensor PersistentView(Tensor buffer, long offset, Tensor like)
    {
        using var range = buffer.narrow(0, offset, like.numel());
        return range.view(like.shape).DetachFromDisposeScope();
    }

    public void Dispose()
    {
        Half.Dispose();
        Widened?.Dispose();
        gradientViews?.ForEach(view => view.Dispose());
    }
}

/// <summary>
/// Persistent bytes of a precision model's training state by kind (docs/ARCHITECTURE.md, "Bytes per parameter").
/// </summary>
internal readonly record struct PersistentBytes(long Masters, long MasterGradients, long HalfShadows, long WidenedCopies, long OptimizerState)
{
    public long Total => Masters + MasterGradients + HalfShadows + WidenedCopies + OptimizerState;

    public static PersistentBytes operator +(PersistentBytes a, PersistentBytes b) => new(
        a.Masters + b.Masters, a.MasterGradients + b.MasterGradients, a.HalfShadows + b.HalfShadows,
        a.WidenedCopies + b.WidenedCopies, a.OptimizerState + b.OptimizerState);
}
