using System;
using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.Generator.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// The liveness pass at run time: an attention block's generated forward holds fewer tensors at its peak than the
/// same forward emitted without it (every temporary kept until the dispose scope ends, as the generator did before),
/// and computes bit-identical results and gradients.
/// </summary>
public sealed class GeneratedLivenessTests
{
    private const string Attention = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class LiveAttention : Module<Tensor, Tensor>
            {
                public const int Width = 16;
                private readonly Linear query = Linear(Width, Width);
                private readonly Linear key = Linear(Width, Width);
                private readonly Linear value = Linear(Width, Width);
                private readonly Linear output = Linear(Width, Width);
                private readonly LayerNorm norm = LayerNorm(Width);

                public LiveAttention() : base(nameof(LiveAttention)) => RegisterComponents();

                [Forward]
                private Tensor Attend(Tensor x)
                {
                    var steps = x.shape[1];
                    var q = query.call(x);
                    var k = key.call(x);
                    var v = value.call(x);
                    var scores = torch.matmul(q, k.transpose(-2, -1)) / System.Math.Sqrt(Width);
                    using var causal = torch.ones(steps, steps, dtype: ScalarType.Bool, device: x.device).triu(1);
                    scores = scores.masked_fill(causal, -1e4);
                    var weights = functional.softmax(scores, -1);
                    var attended = output.call(torch.matmul(weights, v));
                    return norm.call(x + attended);
                }

                // The forward the generator emits for Attend, without the liveness pass (as before it).
                public Tensor ForwardKeepingTemporaries(Tensor x)
                {
                    using var __scope = torch.NewDisposeScope();
                    using var __weights = __PdslState.EnterForward();
                    var steps = x.shape[1];
                    var q = query.call(Precision.Cast(x, __weights.Bf16));
                    var k = key.call(Precision.Cast(x, __weights.Bf16));
                    var v = value.call(Precision.Cast(x, __weights.Bf16));
                    var scores = CheckedOps.Matmul(q, k.transpose(-2, -1), "q", "k.transpose(-2, -1)") / System.Math.Sqrt(Width);
                    using var causal = torch.ones(steps, steps, dtype: ScalarType.Bool, device: x.device).triu(1);
                    scores = scores.masked_fill(causal, -1e4);
                    var weights = CheckedOps.Softmax(scores, -1, storage: __weights.Bf16);
                    var attended = output.call(CheckedOps.Matmul(weights, v, "weights", "v"));
                    return __scope.MoveToOuter(Precision.Cast(norm.call(Precision.Cast(x + attended, ScalarType.Float32)), ScalarType.Float32));
                }
            }
        }
        """;

    private static readonly Lazy<Type> ModelType = new(() => GeneratorHarness.LoadGenerated(Attention).GetType("Probe.LiveAttention")!);

    [Fact]
    public void The_generated_attention_forward_frees_its_temporaries_early()
    {
        var (generated, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("LiveAttention.cs", Attention)));
        var text = generated.Single().Value;
        Assert.Contains("global::PrecisionDsl.Temporaries.Release(q, k);", text);
        Assert.Contains("scores = global::PrecisionDsl.Temporaries.Replace(scores.masked_fill(causal, -1e4), replaced: scores);", text);
    }

    [Fact]
    public void Fewer_tensors_are_live_at_the_peak_of_the_generated_forward()
    {
        using var widened = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Widened });
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(NewModel(), seed: 31);
        var peak = new PeakProbe(model);
        var x = torch.randn(new long[] { 2, 32, 16 }, generator: new torch.Generator().manual_seed(31));

        var generated = peak.Measure(() => model.call(x));
        var keeping = peak.Measure(() => KeepingTemporaries(model, x));

        // Without the pass q, k, v, every cast, both products, both scores, weights and the widened layers' own
        // temporaries stay live until the end (27 here); with it, each statement's temporaries die with it and
        // q, k, v, scores and weights at their last use (8 here).
        Assert.True(generated * 2 <= keeping, $"peak live tensors: {generated} generated, {keeping} without the liveness pass");
    }

    [Fact]
    public void Results_and_gradients_are_bit_identical_to_the_forward_without_the_pass()
    {
        using var widened = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Widened });
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(NewModel(), seed: 32);
        var x = torch.randn(new long[] { 2, 32, 16 }, generator: new torch.Generator().manual_seed(32));

        var (generatedOutput, generatedGrads) = OutputAndGradients(model, x, input => model.call(input));
        var (keepingOutput, keepingGrads) = OutputAndGradients(model, x, input => KeepingTemporaries(model, input));

        Assert.Equal(Values(keepingOutput), Values(generatedOutput));
        Assert.Equal(keepingGrads.Count, generatedGrads.Count);
        Assert.All(keepingGrads.Zip(generatedGrads), pair => Assert.Equal(Values(pair.First), Values(pair.Second)));
    }

    // One forward written twice: statements on lines of their own, and every statement on one line (where the
    // liveness pass's "//" comments once swallowed the rest of the line).
    private const string Stacked = SnapshotTests.Usings + """
        namespace Probe
        {
            [Bf16]
            public partial class OnLines : Module<Tensor, Tensor>
            {
                private readonly Linear first = Linear(8, 8);
                private readonly Linear second = Linear(8, 8);

                public OnLines() : base(nameof(OnLines)) => RegisterComponents();

                [Forward]
                private Tensor F(Tensor x)
                {
                    var a = first.call(x);
                    var b = functional.relu(a) * 2; // doubled
                    if (b.shape[0] > 1) { b = b + 1; } else { b = b - 1; }
                    var c = second.call(b);
                    return c + x;
                }
            }

            [Bf16]
            public partial class OnOneLine : Module<Tensor, Tensor>
            {
                private readonly Linear first = Linear(8, 8);
                private readonly Linear second = Linear(8, 8);

                public OnOneLine() : base(nameof(OnOneLine)) => RegisterComponents();

                [Forward]
                private Tensor F(Tensor x) { var a = first.call(x); var b = functional.relu(a) * 2; /* doubled */ if (b.shape[0] > 1) { b = b + 1; } else { b = b - 1; } var c = second.call(b); return c + x; }
            }
        }
        """;

    [Fact]
    public void Statements_sharing_a_line_compute_what_they_compute_on_lines_of_their_own()
    {
        var (generated, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("Stacked.cs", Stacked)));
        Assert.Contains("global::PrecisionDsl.Temporaries.Release(a);", generated.Single(file => file.Key.Contains("OnOneLine")).Value);
        var assembly = GeneratorHarness.LoadGenerated(Stacked);
        using var scope = NewDisposeScope();
        var onLines = (nn.Module<Tensor, Tensor>)Activator.CreateInstance(assembly.GetType("Probe.OnLines")!)!;
        var onOneLine = (nn.Module<Tensor, Tensor>)Activator.CreateInstance(assembly.GetType("Probe.OnOneLine")!)!;
        onOneLine.load_state_dict(onLines.state_dict());
        var x = torch.randn(4, 8);

        Assert.Equal(Values(onLines.call(x)), Values(onOneLine.call(x)));
    }

    private static float[] Values(Tensor tensor) => tensor.data<float>().ToArray();

    private static nn.Module<Tensor, Tensor> NewModel() => (nn.Module<Tensor, Tensor>)Activator.CreateInstance(ModelType.Value)!;

    private static Tensor KeepingTemporaries(nn.Module<Tensor, Tensor> model, Tensor x) =>
        (Tensor)ModelType.Value.GetMethod("ForwardKeepingTemporaries")!.Invoke(model, new object[] { x })!;

    /// <summary>The output and the gradients of the input and of every fp32 master after a backward of its sum.</summary>
    private static (Tensor Output, List<Tensor> Gradients) OutputAndGradients(nn.Module<Tensor, Tensor> model, Tensor x, Func<Tensor, Tensor> forward)
    {
        model.zero_grad();
        var input = x.detach().requires_grad_(true);
        var output = forward(input);
        output.sum().backward();
        MixedPrecisionState.MoveGradientsToMasters(model);
        var gradients = new List<Tensor> { input.grad!.clone() };
        gradients.AddRange(model.parameters().Select(p => p.grad!.clone()));
        return (output.detach(), gradients);
    }

    /// <summary>
    /// The most tensors alive (TorchSharp's per-thread count of tensors created in a dispose scope and not yet
    /// disposed) at any layer boundary inside a forward, counted from the forward's start.
    /// </summary>
    private sealed class PeakProbe
    {
        private long start;
        private long peak;

        public PeakProbe(nn.Module<Tensor, Tensor> model)
        {
            foreach (var layer in model.children().OfType<nn.Module<Tensor, Tensor>>())
            {
                layer.register_forward_pre_hook((_, _) => { Record(); return null!; });
                layer.register_forward_hook((_, _, output) => { Record(); return output; });
            }
        }

        public long Measure(Func<Tensor> forward)
        {
            using (NewDisposeScope())
            {
                forward(); // first call: shadows and kernels are set up outside the measurement
            }

            using var scope = NewDisposeScope();
            start = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            peak = 0;
            forward();
            return peak;
        }

        private void Record() => peak = Math.Max(peak, DisposeScopeManager.Statistics.ThreadTotalLiveCount - start);
    }
}
