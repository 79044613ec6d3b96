using static TorchSharp.torch.nn;

namespace PrecisionDsl;

/// <summary>A layer member of a precision model and the precision it was declared to run in.</summary>
/// <param name="Name">The member name (for messages).</param>
/// <param name="Module">The layer, a container of layers, or a nested precision model (which keeps its own state).</param>
/// <param name="Kind">The resolved precision.</param>
public readonly record struct PrecisionLayer(string Name, Module Module, PrecisionKind Kind);
