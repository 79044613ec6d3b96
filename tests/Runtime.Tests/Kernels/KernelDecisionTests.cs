using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Kernels;

/// <summary>The rule alone: native only where it ran, is within rounding and is not slower.</summary>
public sealed class KernelDecisionTests
{
    [Theory]
    [InlineData(null, 0.004, 1.0, 2.0, false, "native correct and 2.0x faster")]
    [InlineData(null, 0.004, 1.0, 1.0, false, "native correct and 1.0x faster")]
    [InlineData(null, 0.004, 2.3, 1.0, true, "native 2.3x slower")]
    [InlineData(null, 0.45, double.NaN, double.NaN, true, "native wrong: relative error 0.45")]
    [InlineData(null, 0.021, 1.0, 2.0, true, "native wrong: relative error 0.021")]
    [InlineData(null, double.NaN, double.NaN, double.NaN, true, "native wrong: relative error NaN")]
    [InlineData("'addmm' not implemented for 'BFloat16'", double.NaN, double.NaN, double.NaN, true, "native failed: 'addmm' not implemented for 'BFloat16'")]
    public void Native_is_chosen_only_when_it_ran_correct_and_not_slower(string? failure, double error, double nativeSeconds, double widenedSeconds, bool widened, string reason)
    {
        var choice = KernelDecision.Decide(KernelFamily.Conv2d, ScalarType.BFloat16, new ProbeMeasurement(failure, error, nativeSeconds, widenedSeconds));

        Assert.Equal(new KernelChoice(KernelFamily.Conv2d, ScalarType.BFloat16, widened, reason), choice);
    }

    [Fact]
    public void Fp16_is_held_to_its_finer_rounding()
    {
        var measured = new ProbeMeasurement(null, 0.01, 1.0, 2.0);

        Assert.False(KernelDecision.Decide(KernelFamily.Linear, ScalarType.BFloat16, measured).Widened);
        Assert.Equal("native wrong: relative error 0.01", KernelDecision.Decide(KernelFamily.Linear, ScalarType.Float16, measured).Reason);
    }
}
