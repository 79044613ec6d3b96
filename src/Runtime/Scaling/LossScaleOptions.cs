namespace PrecisionDsl;

/// <summary>
/// The <c>[LossScaled]</c> options the generator passes to <see cref="MixedPrecisionState"/>;
/// they become the configuration of <see cref="MixedPrecisionState.CreateGradScaler"/>. Meanings
/// and valid ranges are those of the <see cref="GradScaler"/> constructor parameters.
/// </summary>
public sealed record LossScaleOptions(
    double InitialScale,
    double GrowthFactor,
    double BackoffFactor,
    int GrowthInterval,
    int Hysteresis,
    double MinScale,
    double MaxScale)
{
    // The one place of the defaults: constants, because attribute properties and optional parameters
    // ([LossScaled], the GradScaler constructor) can only default to constants.

    /// <summary>Starting loss scale: 2^16 (PyTorch's default).</summary>
    public const double DefaultInitialScale = 65536;

    /// <summary>Growth factor after <see cref="DefaultGrowthInterval"/> clean steps (PyTorch's default).</summary>
    public const double DefaultGrowthFactor = 2.0;

    /// <summary>Back-off factor on an overflow (PyTorch's default).</summary>
    public const double DefaultBackoffFactor = 0.5;

    /// <summary>Consecutive clean steps before the scale grows (PyTorch's default).</summary>
    public const int DefaultGrowthInterval = 2000;

    /// <summary>Overflows tolerated before backing off: 1, DeepSpeed's hysteresis off.</summary>
    public const int DefaultHysteresis = 1;

    /// <summary>Lower clamp of the scale.</summary>
    public const double DefaultMinScale = 1;

    /// <summary>Upper clamp of the scale: 2^24.</summary>
    public const double DefaultMaxScale = 16777216;

    /// <summary>PyTorch's defaults, with DeepSpeed's hysteresis off and clamps [1, 2^24].</summary>
    public static LossScaleOptions Default { get; } = new(
        DefaultInitialScale, DefaultGrowthFactor, DefaultBackoffFactor, DefaultGrowthInterval, DefaultHysteresis, DefaultMinScale, DefaultMaxScale);
}
