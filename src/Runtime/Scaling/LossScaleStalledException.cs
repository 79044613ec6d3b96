using System;

namespace PrecisionDsl;

/// <summary>
/// Thrown by <see cref="GradScaler.Update"/> when <see cref="GradScaler.MaxSkippedStepsAtMinScale"/>
/// optimizer steps in a row were skipped for inf/NaN gradients while the loss scale was already at
/// its minimum: the gradients overflow in true units and lowering the scale cannot help. The
/// parameters and optimizer state are those of the last good step; the scaler remains usable.
/// </summary>
public sealed class LossScaleStalledException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="skippedSteps"/> consecutive skipped steps at <paramref name="minScale"/>.</summary>
    public LossScaleStalledException(int skippedSteps, double minScale)
        : this(skippedSteps, minScale, lossScaled: true)
    {
    }

    /// <summary>
    /// Creates the exception for <paramref name="skippedSteps"/> consecutive skipped steps; <paramref name="lossScaled"/>
    /// false when the scaler was disabled (bf16, fp32), whose scale is fixed at 1.
    /// </summary>
    public LossScaleStalledException(int skippedSteps, double minScale, bool lossScaled)
        : base($"Training stalled: the last {skippedSteps} optimizer steps were all skipped because their gradients held inf/NaN, {(lossScaled ? $"although the loss scale is at its minimum ({minScale})" : "with no loss scaling in this precision")}. The gradients overflow in true units; check the inputs and loss for NaN/inf and lower the learning rate. Parameters and optimizer state are those of the last good step. Set GradScaler.MaxSkippedStepsAtMinScale to 0 to keep skipping instead.")
    {
        SkippedSteps = skippedSteps;
        MinScale = minScale;
    }

    /// <summary>Consecutive steps skipped at the minimum scale.</summary>
    public int SkippedSteps { get; }

    /// <summary>The scaler's minimum scale.</summary>
    public double MinScale { get; }
}
