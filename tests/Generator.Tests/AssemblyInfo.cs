using Xunit;

// Several tests run generated models and rely on TorchSharp's global RNG (seeded weights, dropout in a
// bit-identical resume); a test class drawing random numbers in parallel would shift their sequence.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
