using System;

namespace PrecisionDsl;

/// <summary>
/// Runs the annotated layer, or every layer and half-list op of the annotated model, in IEEE half
/// precision (float16, max 65504, smallest subnormal 5.96e-8). Needs loss scaling for training
/// (<see cref="LossScaledAttribute"/>). On a device without fast fp16 (CPU) the policy maps it to bfloat16.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Field | AttributeTargets.Property, Inherited = false)]
public sealed class Fp16Attribute : Attribute
{
}

/// <summary>
/// Runs the annotated layer, or every layer and half-list op of the annotated model, in bfloat16:
/// fp32's range with 8 bits of mantissa, so no loss scaling is needed.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Field | AttributeTargets.Property, Inherited = false)]
public sealed class Bf16Attribute : Attribute
{
}

/// <summary>Always runs the annotated layer in fp32, whatever the model's default precision.</summary>
[AttributeUsage(AttributeTargets.Field | AttributeTargets.Property, Inherited = false)]
public sealed class KeepFp32Attribute : Attribute
{
}

/// <summary>
/// Marks the plain fp32 method the generator rewrites into the mixed-precision <c>forward</c>.
/// It must take the same parameters and return the same type as the module's <c>forward</c>;
/// it stays callable as the fp32 reference path.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ForwardAttribute : Attribute
{
    /// <summary>
    /// Whether the generated <c>forward</c> returns its tensors in fp32 (the default). Set to false to
    /// return them in the dtype the last op produced, e.g. to feed another half-precision stage.
    /// </summary>
    public bool CastResultToFp32 { get; set; } = true;
}

/// <summary>
/// Marks the loss method: its first parameter receives the <c>forward</c> result, the rest are the
/// targets; it returns a scalar <c>Tensor</c>. The generated training step computes it in fp32 and
/// scales it with dynamic loss scaling for fp16 (a pass-through scaler for bf16/fp32). The named
/// options are the defaults of the scaler the model creates; they mirror PyTorch's <c>GradScaler</c>.
/// An option left unset is <see cref="LossScaleOptions.Default"/>'s (the generator passes only the options set).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LossScaledAttribute : Attribute
{
    /// <summary>Starting loss scale.</summary>
    public double InitialScale { get; set; } = LossScaleOptions.DefaultInitialScale;

    /// <summary>Factor the scale grows by after <see cref="GrowthInterval"/> clean steps (must be &gt; 1).</summary>
    public double GrowthFactor { get; set; } = LossScaleOptions.DefaultGrowthFactor;

    /// <summary>Factor the scale shrinks by on an overflow (in (0, 1)).</summary>
    public double BackoffFactor { get; set; } = LossScaleOptions.DefaultBackoffFactor;

    /// <summary>Number of consecutive clean steps before the scale grows.</summary>
    public int GrowthInterval { get; set; } = LossScaleOptions.DefaultGrowthInterval;

    /// <summary>Overflowing steps tolerated before the scale backs off (DeepSpeed's hysteresis; 1 = back off at once).</summary>
    public int Hysteresis { get; set; } = LossScaleOptions.DefaultHysteresis;

    /// <summary>Lower clamp of the scale.</summary>
    public double MinScale { get; set; } = LossScaleOptions.DefaultMinScale;

    /// <summary>Upper clamp of the scale.</summary>
    public double MaxScale { get; set; } = LossScaleOptions.DefaultMaxScale;
}
