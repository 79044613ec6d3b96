using Xunit;

// The sample seeds TorchSharp's global RNG (Trainer.Run: model initialisation and data draw from it, and layer
// constructors take no generator in TorchSharp 0.107), so two tests training at once would change each other's runs.
// Its settings are no longer global: PrecisionPolicy.Use is per execution context.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
