using Xunit;

namespace PrecisionDsl.Runtime.Tests.Scaling;

/// <summary>The loss-scale defaults are the SPEC's, and [LossScaled] and GradScaler take them from LossScaleOptions.</summary>
public class LossScaleDefaultsTests
{
    [Fact]
    public void Defaults_are_the_specs()
    {
        Assert.Equal(new LossScaleOptions(65536, 2.0, 0.5, 2000, 1, 1, 16777216), LossScaleOptions.Default);
    }

    [Fact]
    public void An_unset_LossScaled_option_and_a_default_GradScaler_match_LossScaleOptions_Default()
    {
        var attribute = new LossScaledAttribute();
        var state = new GradScaler().GetState();

        Assert.Equal(LossScaleOptions.Default, new LossScaleOptions(
            attribute.InitialScale, attribute.GrowthFactor, attribute.BackoffFactor, attribute.GrowthInterval, attribute.Hysteresis, attribute.MinScale, attribute.MaxScale));
        Assert.Equal(LossScaleOptions.Default, new LossScaleOptions(
            state.InitialScale, state.GrowthFactor, state.BackoffFactor, state.GrowthInterval, state.Hysteresis, state.MinScale, state.MaxScale));
    }
}
