using System;
using System.Collections.Concurrent;
using System.IO;
using System.Linq;
using System.Threading;
using PrecisionDsl.Generator.Tests.Support;
using PrecisionDsl.TestModels;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// What the generated members do for the shadows' lifetime: loads refresh them, <c>layer.forward(x)</c> runs the
/// layer's hooks like <c>layer.call(x)</c>, and threads running the first forwards at once share one state.
/// </summary>
public sealed class GeneratedLifetimeTests
{
    private const string ForwardCaller = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class ForwardCaller : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(8, 4);
                private readonly Sequential body = Sequential(Linear(8, 8), LayerNorm(8));

                public ForwardCaller() : base(nameof(ForwardCaller)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc.forward(body.forward(x));
            }
        }
        """;

    [Fact]
    public void Loading_weights_after_a_forward_refreshes_the_half_shadows()
    {
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(new Mlp(), seed: 21);
        var other = Deterministic.Initialize(new Mlp(), seed: 22);
        var x = torch.randn(new long[] { 8, 32 }, generator: new torch.Generator().manual_seed(21));
        model.eval();
        other.eval();
        using var noGrad = no_grad();
        model.call(x);

        model.load_state_dict(other.state_dict());
        Assert.Equal(Values(other.call(x)), Values(model.call(x)));

        var fresh = Deterministic.Initialize(new Mlp(), seed: 23);
        var saved = new MemoryStream();
        fresh.save(saved); // closes the stream; its bytes stay readable
        model.load(new BinaryReader(new MemoryStream(saved.ToArray())));
        fresh.eval();
        Assert.Equal(Values(fresh.call(x)), Values(model.call(x)));
    }

    [Fact]
    public void Layer_forward_calls_are_emitted_as_call_so_widened_and_container_layers_work()
    {
        var (generated, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("ForwardCaller.cs", ForwardCaller)));
        var text = generated.Single().Value;
        Assert.Contains("fc.call(", text);
        Assert.Contains("body.call(", text);

        using var widened = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Widened });
        using var scope = NewDisposeScope();
        var model = (nn.Module<Tensor, Tensor>)Activator.CreateInstance(GeneratorHarness.LoadGenerated(ForwardCaller).GetType("Probe.ForwardCaller")!)!;
        var output = model.call(torch.randn(3, 8));
        Assert.Equal(ScalarType.Float32, output.dtype);
        Assert.Equal(new long[] { 3, 4 }, output.shape);
    }

    [Fact]
    public void Threads_running_the_first_forwards_at_once_get_the_serial_result()
    {
        var reference = Deterministic.Initialize(new Mlp(), seed: 22);
        var x = torch.randn(new long[] { 8, 32 }, generator: new torch.Generator().manual_seed(22));
        reference.eval();
        var expected = Values(reference.call(x));

        for (var trial = 0; trial < 5; trial++)
        {
            var model = new Mlp();
            model.load_state_dict(reference.state_dict());
            model.eval();
            var results = new ConcurrentBag<float[]>();
            var start = new Barrier(8);
            var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                results.Add(Values(model.call(x)));
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Assert.All(results, r => Assert.Equal(expected, r));
        }
    }

    private static float[] Values(Tensor tensor) => tensor.detach().to(ScalarType.Float32).data<float>().ToArray();
}
