using Xunit;

// Tests share TorchSharp's global RNG (seeded model pairs must match) and PrecisionPolicy's statics
// (CPU fp16 dtype, logger): run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
