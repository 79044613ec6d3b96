using Xunit;

namespace PrecisionDsl.Runtime.Tests;

/// <summary>
/// The tests that need process-wide state left alone while they run; they run after the parallel ones, one at a time.
/// </summary>
/// <remarks>
/// Test classes run in parallel (xunit's default). Layer constructors and dropout draw from the global RNG (TorchSharp
/// 0.107 gives layers no generator parameter), so tests take seeded weights and data from local generators
/// (tests/Shared/Deterministic.cs) instead. Here: the check that the kernel self-test leaves the global RNG alone,
/// and the count of tensors a step creates (a flat build anywhere in the process makes every fused optimizer
/// re-resolve its ranges once: correct, but not the O(1) path being counted). Other shared state is safe in
/// parallel: settings are per execution context (PrecisionPolicy.Use), TorchSharp's dispose-scope statistics per
/// thread, the self-test's results decided once per process.
/// </remarks>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideStateCollection
{
    public const string Name = "ProcessWideState";
}
