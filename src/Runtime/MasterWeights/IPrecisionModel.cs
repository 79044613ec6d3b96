using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// A precision model: the generated partial of every model the generator accepts declares this interface. The
/// runtime recognises precision models by it (a nested one inside a container swaps its own shadows) and reaches
/// their states through it; user code may too, e.g. to read a model's states in a hand-written loop.
/// </summary>
/// <remarks>
/// A precision model deriving from another has one state per precision-model class of its chain (each class's
/// generated code keeps its own, for its own layers), so the interface lists states rather than returning one.
/// Generated code does not implement the member: it has one meaning for every model.
/// </remarks>
public interface IPrecisionModel
{
    /// <summary>
    /// The states of this model that have run a generated forward, in the order they first entered one (a
    /// derived model's before the base model's it calls). Empty before the first forward. Reading it creates
    /// nothing: it never builds shadows or states.
    /// </summary>
    IReadOnlyList<MixedPrecisionState> PrecisionStatesInUse => PrecisionStates.Of(this);
}

/// <summary>The states each precision model instance has put to use, held no longer than the model.</summary>
internal static class PrecisionStates
{
    private static readonly ConditionalWeakTable<Module, List<MixedPrecisionState>> ByOwner = new();

    /// <summary>Called once per state, at its first forward: only the state the model keeps gets that far.</summary>
    public static void Add(Module owner, MixedPrecisionState state)
    {
        var states = ByOwner.GetValue(owner, static _ => new List<MixedPrecisionState>());
        lock (states)
        {
            states.Add(state);
        }
    }

    public static IReadOnlyList<MixedPrecisionState> Of(IPrecisionModel model)
    {
        if (model is not Module owner || !ByOwner.TryGetValue(owner, out var states))
        {
            return Array.Empty<MixedPrecisionState>();
        }

        lock (states)
        {
            return states.ToArray();
        }
    }
}
