namespace PrecisionDsl;

/// <summary>
/// Everything a <see cref="GradScaler"/> needs to continue a run exactly: its dynamic state and
/// its configuration. A plain record, so it serializes with System.Text.Json or any serializer;
/// save it beside the model's and optimizer's state.
/// </summary>
/// <param name="Scale">The current loss scale.</param>
/// <param name="GrowthTracker">Consecutive clean steps since the last growth or overflow.</param>
/// <param name="HysteresisLeft">Overflows still tolerated before the scale backs off.</param>
/// <param name="SkippedSteps">Optimizer steps skipped because a gradient was inf/NaN.</param>
/// <param name="InitialScale">Configured starting scale.</param>
/// <param name="GrowthFactor">Configured growth factor.</param>
/// <param name="BackoffFactor">Configured backoff factor.</param>
/// <param name="GrowthInterval">Configured number of clean steps before growth.</param>
/// <param name="Hysteresis">Configured number of overflows tolerated before backoff.</param>
/// <param name="MinScale">Configured lower clamp.</param>
/// <param name="MaxScale">Configured upper clamp.</param>
/// <param name="Enabled">Whether the scaler scales at all.</param>
/// <param name="SkippedStepsAtMinScale">Steps skipped in a row with the scale at MinScale (a stall in progress).</param>
/// <param name="MaxSkippedStepsAtMinScale">Configured stall limit (<see cref="GradScaler.MaxSkippedStepsAtMinScale"/>).</param>
public sealed record GradScalerState(
    double Scale,
    int GrowthTracker,
    int HysteresisLeft,
    long SkippedSteps,
    double InitialScale,
    double GrowthFactor,
    double BackoffFactor,
    int GrowthInterval,
    int Hysteresis,
    double MinScale,
    double MaxScale,
    bool Enabled,
    int SkippedStepsAtMinScale = 0,
    int MaxSkippedStepsAtMinScale = GradScaler.DefaultMaxSkippedStepsAtMinScale);
