using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>
/// End-to-end training of a 129-parameter model in fp32, bf16 and real fp16 (forced on CPU through
/// the policy override). The loss is weighted by 2^-20, as a mean over a huge batch would make it,
/// so unscaled fp16 gradients fall under fp16's smallest subnormal (2^-24) and flush to zero.
/// Adam is invariant to the gradients' scale, so fp32 trains as well with the small weight.
/// </summary>
public sealed class MixedPrecisionTrainingTests(ITestOutputHelper output)
{
    private const double SmallLossWeight = 1.0 / (1 << 20);
    private const int Steps = 40;

    [Fact]
    public void Bf16_and_loss_scaled_fp16_reach_the_fp32_loss_while_unscaled_fp16_gradients_underflow()
    {
        using var scope = NewDisposeScope();
        using var realFp16 = PolicyOverride.CpuFp16(ScalarType.Float16);
        var (x, y) = RegressionData.Create();

        var fp32 = Train(PrecisionKind.Fp32, x, y, scaled: true);
        var bf16 = Train(PrecisionKind.Bf16, x, y, scaled: true);
        var fp16 = Train(PrecisionKind.Fp16, x, y, scaled: true);
        var fp16Unscaled = Train(PrecisionKind.Fp16, x, y, scaled: false);
        output.WriteLine($"initial {fp32.InitialLoss}; final fp32 {fp32.FinalLoss}, bf16 {bf16.FinalLoss}, fp16 {fp16.FinalLoss}, fp16 unscaled {fp16Unscaled.FinalLoss}");
        output.WriteLine($"zero gradient fraction: fp32 {fp32.ZeroGradients}, bf16 {bf16.ZeroGradients}, fp16 {fp16.ZeroGradients}, fp16 unscaled {fp16Unscaled.ZeroGradients}; fp16 scale {fp16.Scale}");

        Assert.True(fp32.FinalLoss < 0.5 * fp32.InitialLoss, "the fp32 reference must actually learn");
        var tolerance = 0.05 * fp32.InitialLoss;
        Assert.InRange(bf16.FinalLoss, fp32.FinalLoss - tolerance, fp32.FinalLoss + tolerance);
        Assert.InRange(fp16.FinalLoss, fp32.FinalLoss - tolerance, fp32.FinalLoss + tolerance);
        Assert.True(fp16.Scale > 1, "real fp16 gets an enabled scaler");

        Assert.Equal(0, fp32.ZeroGradients);
        Assert.True(fp16.ZeroGradients < 0.05, $"scaled fp16 keeps its gradients ({fp16.ZeroGradients:P0} zero)");
        Assert.True(fp16Unscaled.ZeroGradients > 0.5, $"unscaled fp16 gradients must underflow ({fp16Unscaled.ZeroGradients:P0} zero)");
        Assert.True(fp16Unscaled.FinalLoss > fp32.FinalLoss + tolerance, "underflowed gradients stall training");
    }

    private static TrainingRun Train(PrecisionKind kind, Tensor x, Tensor y, bool scaled)
    {
        var model = Deterministic.Initialize(new TinyMlp(kind, lossWeight: SmallLossWeight), seed: 21);
        var optimizer = optim.Adam(model.parameters(), lr: 0.02);
        var scaler = scaled ? model.CreateGradScaler() : new GradScaler(enabled: false);
        var initialLoss = FullLoss(model, x, y);

        model.AccumulateGradients(x, y, scaler);
        var gradients = model.parameters().SelectMany(p => Snapshots.Values(p.grad!)).ToArray();
        var zeroFraction = gradients.Count(g => g == 0) / (double)gradients.Length;
        var first = model.ApplyGradients(optimizer, scaler);

        var last = first;
        for (var step = 1; step < Steps; step++)
        {
            last = model.TrainStep(x, y, optimizer, scaler);
        }

        return new TrainingRun(initialLoss, FullLoss(model, x, y), zeroFraction, last.Scale);
    }

    private static double FullLoss(TinyMlp model, Tensor x, Tensor y)
    {
        using var noGrad = no_grad();
        return nn.functional.mse_loss(model.call(x), y).item<float>();
    }

    private readonly record struct TrainingRun(double InitialLoss, double FinalLoss, double ZeroGradients, double Scale);
}
