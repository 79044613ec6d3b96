using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// TorchSharp's <see cref="SGD"/> (momentum, dampening, Nesterov, weight decay) over flat fp32 buffers (a precision
/// model's masters, or its own for a plain module's parameters), a few kernels per contiguous range of a parameter
/// group; see <see cref="FlatAdamW"/> for the design.
/// Create it with <see cref="FlatOptimizers.CreateSgd(Module, double, double, double, bool)"/>.
/// </summary>
/// <remarks>Momentum buffers are views of one flat buffer per flat group, created (as TorchSharp does) at the
/// first step of their range.</remarks>
public sealed class FlatSgd : SGD, IFlatOptimizer
{
    private readonly FlatLayout layout;
    private readonly Dictionary<FlatGroup, Tensor> buffers = new();
    private bool stateReplaced = true;
    private long groupsAdded;

    /// <summary>Elements updated at once (<see cref="FlatRange.DefaultChunkElements"/>; tests set small chunks).</summary>
    internal long ChunkElements { get; set; } = FlatRange.DefaultChunkElements;

    internal FlatSgd(Module model, IEnumerable<ParamGroup> groups, double lr, double momentum, double weightDecay, bool nesterov)
        : base(groups, lr, momentum, 0, weightDecay, nesterov, false)
    {
        layout = new FlatLayout(model, flattenTheRest: true);
    }

    /// <summary>
    /// Adds a group (its ranges are resolved at the next step). Its parameters are listed once, as PyTorch does: a
    /// lazy <c>model.parameters()</c> would walk the module tree at every step.
    /// </summary>
    public override void add_param_group(TorchSharp.Modules.ParamGroup param_group)
    {
        param_group.Parameters = param_group.Parameters.ToList();
        base.add_param_group(param_group);
        groupsAdded++;
        stateReplaced = true;
    }

    /// <summary>One update of every range and loose parameter, as TorchSharp's SGD would make it.</summary>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using var enabled = enable_grad();
            loss = closure();
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Prepare();
        foreach (var range in layout.Ranges)
        {
            var first = StateOf(range.Entries[0].Parameter);
            var fresh = first.momentum_buffer is null;
            var momentum = buffers.GetValueOrDefault(range.Group);
            foreach (var (offset, count) in range.Chunks(ChunkElements))
            {
                // Each chunk's temporaries are freed before the next chunk allocates its own.
                using var chunkScope = NewDisposeScope();
                Update(range.Group.Masters.narrow(0, offset, count), range.Group.Gradients!.narrow(0, offset, count),
                    momentum?.narrow(0, offset, count), fresh, (Options)range.ParamGroup.Options);
            }

            if (fresh && momentum is not null)
            {
                // Once per range: from now on each parameter's momentum buffer is its view of the flat one.
                foreach (var entry in range.Entries)
                {
                    StateOf(entry.Parameter).momentum_buffer = FlatGroup.View(buffers[range.Group], entry.Offset, entry.Parameter).DetachFromDisposeScope();
                }
            }
        }

        foreach (var (parameter, group) in layout.Loose)
        {
            if (parameter.grad is { } gradient)
            {
                var state = StateOf(parameter);
                var options = (Options)group.Options;
                var fresh = state.momentum_buffer is null;
                if (fresh && options.momentum != 0)
                {
                    state.momentum_buffer = zeros_like(parameter).DetachFromDisposeScope();
                }

                Update(parameter, gradient, state.momentum_buffer, fresh, options);
            }
        }

        return loss!;
    }

    /// <summary>Zeroes the gradients in place (the flat ranges: one kernel each).</summary>
    public override void zero_grad()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Prepare();
        layout.ZeroGradients();
    }

    FlatLayout IFlatOptimizer.Layout => layout;

    long IFlatOptimizer.GroupsAdded => groupsAdded;

    IEnumerable<Tensor> IFlatOptimizer.GradientRanges()
    {
        Prepare();
        return layout.Gradients();
    }

    /// <summary>TorchSharp's in-memory load replaces the momentum buffers: they move into the flat buffers at the next step.</summary>
    public override void load_state_dict(StateDictionary state_dict)
    {
        base.load_state_dict(state_dict);
        stateReplaced = true;
    }

    /// <summary>Momentum held in flat buffers (4 bytes per parameter when momentum is used).</summary>
    long IFlatOptimizer.StateBytes => buffers.Values.Sum(FlatGroup.Bytes);

    /// <summary>Releases the flat state buffers with the per-parameter state.</summary>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            layout.Dispose();
            foreach (var buffer in buffers.Values)
            {
                buffer.Dispose();
            }
        }
    }

    private void Prepare()
    {
        if (layout.Update(_parameter_groups, stateReplaced || MomentumReplaced()))
        {
            stateReplaced = false;
            var old = buffers.Values.ToList();
            buffers.Clear();
            foreach (var range in layout.Ranges.Where(r => ((Options)r.ParamGroup.Options).momentum != 0))
            {
                if (!buffers.TryGetValue(range.Group, out var flat))
                {
                    flat = zeros_like(range.Group.Masters).DetachFromDisposeScope();
                    buffers[range.Group] = flat;
                }

                foreach (var entry in range.Entries)
                {
                    if (StateOf(entry.Parameter).momentum_buffer is { } momentum)
                    {
                        FlatGroup.MoveInto(momentum, flat, entry);
                    }
                }
            }

            old.ForEach(b => b.Dispose());
        }

        layout.AttachGradients();
    }

    /// <summary>
    /// TorchSharp's binary load writes a momentum buffer in place, but creates a new one where there was none
    /// (an optimizer that has not stepped yet): such a buffer moves into the flat buffer. One check per range.
    /// </summary>
    private bool MomentumReplaced() => layout.Ranges.Any(r =>
        buffers.TryGetValue(r.Group, out var buffer) && StateOf(r.Entries[0].Parameter).momentum_buffer is { } momentum
        && FlatBuffers.DataPointer(momentum) != FlatBuffers.DataPointer(buffer) + r.Offset * buffer.ElementSize);

    private State StateOf(Parameter parameter) => (State)_state[parameter.Handle];

    /// <summary>TorchSharp's SGD update, operation for operation; <paramref name="fresh"/>: the momentum buffer starts as the gradient.</summary>
    private static void Update(Tensor parameter, Tensor gradient, Tensor? momentumBuffer, bool fresh, Options options)
    {
        var lr = options.LearningRate!.Value;
        var momentum = options.momentum!.Value;
        var weightDecay = options.weight_decay!.Value;
        if (weightDecay != 0)
        {
            gradient = gradient.add(parameter, alpha: weightDecay);
        }

        if (momentum != 0)
        {
            if (fresh)
            {
                momentumBuffer!.copy_(gradient);
            }
            else
            {
                momentumBuffer!.mul_(momentum).add_(gradient, alpha: 1 - options.dampening!.Value);
            }

            gradient = options.nesterov == true ? gradient.add(momentumBuffer, alpha: momentum) : momentumBuffer;
        }

        parameter.add_(gradient, alpha: options.maximize == true ? lr : -lr);
    }
}
