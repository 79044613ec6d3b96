namespace PrecisionDsl;

/// <summary>The outcome of one optimizer step of a precision model.</summary>
/// <param name="Loss">The unscaled loss of the step (summed over accumulated micro-batches, each times its weight).</param>
/// <param name="Stepped">False when the step was skipped because a gradient was inf/NaN.</param>
/// <param name="Scale">The loss scale after the scaler's update (1 for a disabled scaler).</param>
public readonly record struct TrainStepResult(double Loss, bool Stepped, double Scale);
