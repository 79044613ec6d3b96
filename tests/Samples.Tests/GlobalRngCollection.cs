using Xunit;

namespace PrecisionDsl.Samples.Tests;

/// <summary>
/// The tests that need TorchSharp's global RNG itself; they run after the parallel ones, one at a time.
/// </summary>
/// <remarks>
/// Test classes run in parallel (xunit's default). The sample seeds the global RNG, then builds its model
/// (Trainer.Run), whose layer constructors draw from it (TorchSharp 0.107 gives them no generator parameter): with
/// runs in parallel, a run's initial weights are not its seed's. That is fine for the tests that check a run trains,
/// or that resume from a checkpoint (the weights come from it); the test comparing two runs' first losses is in this
/// collection. The sample has no dropout and draws its data from System.Random. Peak memory (MemoryProbe) is
/// process-wide too, and no test asserts on it.
/// </remarks>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    public const string Name = "GlobalRng";
}
