using Xunit;

// The end-to-end test changes PrecisionPolicy's statics and TorchSharp's global RNG: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
