using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// The tests that need TorchSharp's global RNG itself; they run after the parallel ones, one at a time.
/// </summary>
/// <remarks>
/// Test classes run in parallel (xunit's default). Layer constructors and dropout draw from the global RNG (TorchSharp
/// 0.107 gives layers no generator parameter), so tests take seeded weights and data from local generators
/// (tests/Shared/Deterministic.cs) instead. Here: a bit-identical resume of a model with dropout.
/// </remarks>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    public const string Name = "GlobalRng";
}
