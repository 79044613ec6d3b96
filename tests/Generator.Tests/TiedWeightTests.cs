using System.Linq;
using System.Reflection;
using PrecisionDsl.TestModels.Corpus;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// Weight tying (GPT-2's embedding and output head share one weight) through the flat buffers: one master, whose
/// gradient sums both uses, in every kernel mode a CPU can end up in — including the one where the head's Linear
/// runs widened while the Embedding, outside every kernel family, stays natively half.
/// </summary>
public sealed class TiedWeightTests
{
    private const double Lr = 1e-2;

    public static TheoryData<HalfMatmulKernel, bool> Modes => new()
    {
        { HalfMatmulKernel.Auto, true }, { HalfMatmulKernel.Widened, false }, { HalfMatmulKernel.Widened, true }, { HalfMatmulKernel.Native, true },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public void A_tied_weight_stays_one_master_whose_gradient_sums_both_uses(HalfMatmulKernel kernel, bool excessPrecision)
    {
        using var policy = PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuHalfMatmul = kernel, CpuExcessPrecision = excessPrecision });
        using var scope = NewDisposeScope();
        var model = Deterministic.Initialize(new TiedLanguageModel(), seed: 5);
        var data = new torch.Generator().manual_seed(5);
        var ids = randint(0, 40, new long[] { 8, 6 }, generator: data);
        var targets = randint(0, 40, new long[] { 8, 6 }, generator: data);
        var reference = ReferenceGradient(model, ids, targets);
        var optimizer = model.CreateAdamW(lr: Lr);
        var scaler = model.CreateGradScaler();

        model.AccumulateGradients(ids, targets, scaler);

        var gradient = model.get_parameter("tokens.weight")!.grad!;
        var error = (gradient - reference).norm().item<float>() / reference.norm().item<float>();
        Assert.True(error < 0.03, $"relative error {error:G3} of the tied weight's gradient against fp32's");

        // TorchSharp lists the tied weight once per module; the fused AdamW updates it once. Its first step moves each
        // element by lr * g / (|g| + eps) <= lr, after the decoupled decay: twice that if it were updated per handle.
        var before = model.get_parameter("tokens.weight")!.detach().clone();
        model.ApplyGradients(optimizer, scaler);
        var moved = (model.get_parameter("tokens.weight")!.detach() - before * (1 - Lr * 0.01)).abs().max().item<float>();
        Assert.InRange(moved, 0.5 * Lr, 1.01 * Lr);

        for (var step = 0; step < 3; step++)
        {
            model.TrainStep(ids, targets, optimizer, scaler);
        }

        // Two weights would have parted: the embedding's gradient has only the looked-up rows, the head's every row.
        Assert.Equal(Values(model.get_parameter("tokens.weight")!), Values(model.get_parameter("head.weight")!));
    }

    private static float[] Values(Tensor tensor) => tensor.detach().data<float>().ToArray();

    /// <summary>The tied weight's gradient from the untouched fp32 [Forward] method: the sum over the embedding lookup and the head.</summary>
    private static Tensor ReferenceGradient(TiedLanguageModel model, Tensor ids, Tensor targets)
    {
        var compute = typeof(TiedLanguageModel).GetMethod("Compute", BindingFlags.Instance | BindingFlags.NonPublic)!;
        var loss = typeof(TiedLanguageModel).GetMethod("Loss", BindingFlags.Instance | BindingFlags.NonPublic)!;
        var logits = (Tensor)compute.Invoke(model, new object[] { ids })!;
        ((Tensor)loss.Invoke(model, new object[] { logits, targets })!).backward();
        var gradient = model.get_parameter("tokens.weight")!.grad!.clone();
        model.zero_grad();
        return gradient;
    }
}
