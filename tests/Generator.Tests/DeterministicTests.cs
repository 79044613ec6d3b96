using System;
using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.TestModels;
using PrecisionDsl.TestModels.Corpus;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// tests/Shared/Deterministic.cs, which the tests with twin models or seeded runs rely on: one seed gives bit-identical
/// weights whatever the global RNG did in between, for every kind of layer the tests build.
/// </summary>
public sealed class DeterministicTests
{
    private static readonly Dictionary<string, Func<torch.nn.Module>> Models = new()
    {
        [nameof(Mlp)] = () => new Mlp(),
        [nameof(SequenceTagger)] = () => new SequenceTagger(), // Embedding, GRU (weights in native code)
        [nameof(LstmForecaster)] = () => new LstmForecaster(),
        [nameof(TransformerBlock)] = () => new TransformerBlock(),
        [nameof(BagOfWordsClassifier)] = () => new BagOfWordsClassifier(),
        [nameof(ResNet)] = () => new ResNet(), // convolutions, BatchNorm
    };

    public static TheoryData<string> Names() => new(Models.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void One_seed_gives_the_same_weights_and_another_seed_different_ones(string name)
    {
        using var scope = torch.NewDisposeScope();
        var first = Deterministic.Initialize(Models[name](), seed: 3);
        var second = Deterministic.Initialize(Models[name](), seed: 3); // built after the first drew from the global RNG
        var other = Deterministic.Initialize(Models[name](), seed: 4);

        var (a, b, c) = (first.state_dict(), second.state_dict(), other.state_dict());
        Assert.All(a, entry => Assert.True(entry.Value.allclose(b[entry.Key], rtol: 0, atol: 0), $"{name}.{entry.Key} differs with the same seed"));
        var redrawn = a.Where(entry => !entry.Value.allclose(c[entry.Key], rtol: 0, atol: 0)).Select(entry => entry.Key).ToHashSet();
        Assert.All(first.named_parameters(), p => Assert.True(
            redrawn.Contains(p.name) || (p.parameter.numel() > 1 && p.parameter.eq(p.parameter.view(-1)[0]).all().item<bool>()),
            $"{name}.{p.name} is not constant, so the seed must choose it"));
    }
}
