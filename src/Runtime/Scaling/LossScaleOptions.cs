namespace PrecisionDsl
{
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
        /// <summary>PyTorch's defaults, with DeepSpeed's hysteresis off and clamps [1, 2^24].</summary>
        public static LossScaleOptions Default { get; } = new(65536, 2.0, 0.5, 2000, 1, 1, 16777216);
    }
}
