using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// TorchSharp's <see cref="AdamW"/> over flat fp32 buffers (a precision model's masters, or buffers of its own for a
/// plain module's parameters): each parameter group is a few contiguous ranges of the flat buffers, updated with
/// TorchSharp's own sequence of operations (so the values equal <c>torch.optim.AdamW</c>'s within fp32 rounding) in a
/// handful of kernels per range instead of per parameter. Create it with <see cref="FlatOptimizers.CreateAdamW(Module, double, double, double, double, double)"/>.
/// </summary>
/// <remarks>
/// <para>It is a TorchSharp <see cref="AdamW"/>: <c>parameters()</c>, <c>ParamGroups</c> (learning-rate
/// schedulers), <c>zero_grad</c> (in place), <c>state_dict</c>, <c>save_state_dict</c>/<c>load_state_dict</c> and
/// <see cref="TrainingCheckpoint"/> work as for TorchSharp's; the per-parameter state tensors are views of flat
/// state buffers. Differences: <c>amsgrad</c> is not supported; all parameters of a group share one step count
/// (TorchSharp counts per parameter, which differs only for a parameter that had no gradient on some steps); and
/// every flattened parameter has a gradient (a view of the flat gradient buffer, zero when the backward did not reach
/// it), so one the loss does not use is still decayed and moved by its moments, where TorchSharp skips it.</para>
/// <para>At the first step (or <c>zero_grad</c>) the trainable parameters that no precision model holds (a plain
/// module, or a precision model before its first forward) are moved into flat buffers of the optimizer's own with
/// <c>set_</c>, as a precision model moves its masters: the Parameter objects stay the same. Frozen and non-floating
/// parameters are updated one by one, as TorchSharp does. The ranges are resolved again whenever some model built
/// its buffers (a precision model's first forward moves its parameters out of the optimizer's into its own). The
/// groups keep the Parameter objects they were given: a <c>to(dtype)</c>/<c>to(device)</c> that gives the module new
/// ones (TorchSharp replaces a parameter whose dtype or device changes) needs a new optimizer, as TorchSharp's
/// does.</para>
/// </remarks>
public sealed class FlatAdamW : AdamW, IFlatOptimizer
{
    private readonly FlatLayout layout;
    private readonly Dictionary<FlatGroup, (Tensor ExpAvg, Tensor ExpAvgSq)> buffers = new();
    private bool stateReplaced = true;
    private long groupsAdded;

    /// <summary>Elements updated at once (<see cref="FlatRange.DefaultChunkElements"/>; tests set small chunks).</summary>
    internal long ChunkElements { get; set; } = FlatRange.DefaultChunkElements;

    internal FlatAdamW(Module model, IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay)
        : base(groups, lr, beta1, beta2, eps, weightDecay)
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
        if (((Options)param_group.Options).amsgrad == true)
        {
            throw new NotSupportedException("FlatAdamW does not support amsgrad; use torch.optim.AdamW.");
        }

        stateReplaced = true;
    }

    /// <summary>One update of every range and loose parameter, as TorchSharp's AdamW would make it.</summary>
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
        var steps = new Dictionary<TorchSharp.Modules.ParamGroup, long>(ReferenceEqualityComparer.Instance);
        foreach (var group in _parameter_groups.Where(g => g.Parameters.Any()))
        {
            steps[group] = ++StateOf(group.Parameters.First()).step;
        }

        foreach (var range in layout.Ranges)
        {
            var (expAvg, expAvgSq) = buffers[range.Group];
            foreach (var (offset, count) in range.Chunks(ChunkElements))
            {
                // Each chunk's temporaries are freed before the next chunk allocates its own.
                using var chunkScope = NewDisposeScope();
                Update(range.Group.Masters.narrow(0, offset, count), range.Group.Gradients!.narrow(0, offset, count),
                    expAvg.narrow(0, offset, count), expAvgSq.narrow(0, offset, count),
                    (Options)range.ParamGroup.Options, steps[range.ParamGroup]);
            }
        }

        foreach (var (parameter, group) in layout.Loose)
        {
            if (parameter.grad is { } gradient)
            {
                var state = StateOf(parameter);
                Update(parameter, gradient, state.exp_avg, state.exp_avg_sq, (Options)group.Options, steps[group]);
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

    /// <summary>Each parameter's state carries its group's step count (the step updates only the group's first).</summary>
    public override StateDictionary state_dict()
    {
        foreach (var group in _parameter_groups.Where(g => g.Parameters.Any()))
        {
            var step = StateOf(group.Parameters.First()).step;
            foreach (var parameter in group.Parameters)
            {
                StateOf(parameter).step = step;
            }
        }

        return base.state_dict();
    }

    /// <summary>TorchSharp's in-memory load replaces the state tensors: they move into the flat buffers at the next step.</summary>
    public override void load_state_dict(StateDictionary state_dict)
    {
        base.load_state_dict(state_dict);
        stateReplaced = true;
    }

    /// <summary>Optimizer state held in flat buffers (exp_avg and exp_avg_sq: 8 bytes per parameter).</summary>
    long IFlatOptimizer.StateBytes => buffers.Values.Sum(b => FlatGroup.Bytes(b.ExpAvg) + FlatGroup.Bytes(b.ExpAvgSq));

    /// <summary>Releases the flat state buffers with the per-parameter state.</summary>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            layout.Dispose();
            foreach (var (expAvg, expAvgSq) in buffers.Values)
            {
                expAvg.Dispose();
                expAvgSq.Dispose();
            }
        }
    }

    /// <summary>Resolves the ranges (moving the state into flat buffers when they changed) and attaches the gradients.</summary>
    private void Prepare()
    {
        if (layout.Update(_parameter_groups, stateReplaced))
        {
            stateReplaced = false;
            var old = buffers.Values.ToList();
            buffers.Clear();
            foreach (var range in layout.Ranges)
            {
                if (!buffers.TryGetValue(range.Group, out var flat))
                {
                    flat = (zeros_like(range.Group.Masters).DetachFromDisposeScope(), zeros_like(range.Group.Masters).DetachFromDisposeScope());
                    buffers[range.Group] = flat;
                }

                foreach (var entry in range.Entries)
                {
                    var state = StateOf(entry.Parameter);
                    FlatGroup.MoveInto(state.exp_avg, flat.ExpAvg, entry);
                    FlatGroup.MoveInto(state.exp_avg_sq, flat.ExpAvgSq, entry);
                }
            }

            // The old buffers' storage lives on in any state that stayed outside the new ranges.
            old.ForEach(b => { b.ExpAvg.Dispose(); b.ExpAvgSq.Dispose(); });
        }

        layout.AttachGradients();
    }

    private State StateOf(Parameter parameter) => (State)_state[parameter.Handle];

    /// <summary>TorchSharp's AdamW update, operation for operation.</summary>
    private static void Update(Tensor parameter, Tensor gradient, Tensor expAvg, Tensor expAvgSq, Options options, long step)
    {
        var lr = options.LearningRate!.Value;
        var beta1 = options.beta1!.Value;
        var beta2 = options.beta2!.Value;
        parameter.mul_(1 - lr * options.weight_decay!.Value);
        var biasCorrection1 = 1 - Math.Pow(beta1, step);
        var biasCorrection2 = 1 - Math.Pow(beta2, step);
        expAvg.mul_(beta1).add_(gradient, alpha: options.maximize == true ? -(1 - beta1) : 1 - beta1);
        expAvgSq.mul_(beta2).addcmul_(gradient, gradient, value: 1 - beta2);
        var denominator = (expAvgSq.sqrt() / Math.Sqrt(biasCorrection2)).add_(options.eps!.Value);
        parameter.addcdiv_(expAvg, denominator, value: -lr / biasCorrection1);
    }
}
