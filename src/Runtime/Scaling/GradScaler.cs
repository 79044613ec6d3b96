using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl;

/// <summary>
/// Dynamic loss scaling with PyTorch's <c>torch.amp.GradScaler</c> semantics, plus DeepSpeed's
/// hysteresis and min/max clamps. fp16 gradients smaller than 2^-24 flush to zero; multiplying the
/// loss by a large scale moves them into range, and the scaler divides it back out before the
/// optimizer step.
/// </summary>
/// <remarks>
/// <para>One iteration: <c>scaler.Scale(loss).backward()</c> (once per micro-batch), optionally
/// <see cref="Unscale"/> then clip, <see cref="Step"/>, <see cref="Update"/>. <see cref="Step"/>
/// skips the optimizer when any gradient is inf/NaN, leaving parameters and optimizer state
/// untouched; <see cref="Update"/> then backs the scale off. After <c>growthInterval</c>
/// consecutive clean steps the scale grows.</para>
/// <para>The overflow check is an in-place multiply and two reductions per gradient, combined into
/// one flag on the device; the host reads that flag once per step, in <see cref="Step"/>.</para>
/// <para>Gradient accumulation: scale every micro-batch's loss with the same scale (call
/// <see cref="Scale"/> and <c>backward</c> per micro-batch), then unscale, step and update once:
/// <code>
/// optimizer.zero_grad();
/// foreach (var (x, y) in microBatches)
/// {
///     using var loss = functional.cross_entropy(model.call(x), y) / microBatches.Count;
///     scaler.Scale(loss).backward();
/// }
/// scaler.Unscale(optimizer);                       // only needed to clip in true units
/// torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0);
/// bool stepped = scaler.Step(optimizer);           // false: skipped, inf/NaN gradient
/// scaler.Update();
/// </code>
/// With a precision model, its generated <c>AccumulateGradients</c>/<c>ApplyGradients</c> do this
/// (and move the half gradients into the fp32 masters).</para>
/// <para>Disabled (<c>enabled: false</c>), every public member is a pass-through: <see cref="Scale"/>
/// returns the loss, <see cref="Step"/> always steps. Used for bf16 and fp32, which need no scaling. The
/// generated <c>TrainStep</c>/<c>ApplyGradients</c> still skip a step whose gradients hold inf/NaN and
/// count it, in the same single read as the loss, and a run of such steps ends in the stall exception.</para>
/// <para><b>Stalled scale.</b> A step that overflows although the scale is already at
/// <c>minScale</c> (or, disabled, at all) overflows in true units (a NaN input, a diverged loss, a too-large learning
/// rate): lowering the scale cannot help, and skipping it forever would train nothing, silently.
/// After <see cref="MinScaleStallWarningSteps"/> such steps in a row the scaler logs a warning
/// through the <see cref="PrecisionSettings.Logger"/> in effect when the scaler was created; after <see cref="MaxSkippedStepsAtMinScale"/> in a
/// row <see cref="Update"/> throws <see cref="LossScaleStalledException"/>. Parameters and optimizer
/// state are untouched by every skipped step, so the weights of the last good step can be saved.</para>
/// </remarks>
public sealed class GradScaler
{
    /// <summary>Consecutive steps skipped at <c>minScale</c> after which the scaler logs a warning.</summary>
    public const int MinScaleStallWarningSteps = 10;

    /// <summary>Default of <see cref="MaxSkippedStepsAtMinScale"/>.</summary>
    public const int DefaultMaxSkippedStepsAtMinScale = 100;

    /// <summary>Where the stall warning goes: <see cref="PrecisionPolicy.Current"/>'s logger at creation, or the model's.</summary>
    internal ILogger Logger { get; init; } = PrecisionPolicy.Current.Logger;

    private readonly Dictionary<Optimizer, StepRecord> records = new(ReferenceEqualityComparer.Instance);

    private double initialScale;
    private double growthFactor;
    private double backoffFactor;
    private int growthInterval;
    private int hysteresis;
    private double minScale;
    private double maxScale;
    private bool enabled;

    private double scale;
    private int growthTracker;
    private int hysteresisLeft;
    private int skippedAtMinScale;
    private int maxSkippedStepsAtMinScale = DefaultMaxSkippedStepsAtMinScale;

    /// <summary>Creates a scaler; the defaults are PyTorch's, hysteresis off, clamps [1, 2^24].</summary>
    /// <param name="initialScale">Starting scale; within [<paramref name="minScale"/>, <paramref name="maxScale"/>].</param>
    /// <param name="growthFactor">Factor the scale grows by after <paramref name="growthInterval"/> clean steps; &gt; 1.</param>
    /// <param name="backoffFactor">Factor the scale shrinks by on overflow; in (0, 1).</param>
    /// <param name="growthInterval">Consecutive clean steps before growth; &gt; 0.</param>
    /// <param name="hysteresis">Overflows tolerated before backing off (DeepSpeed); 1 backs off at once. Refilled when the scale grows.</param>
    /// <param name="minScale">Lower clamp; &gt; 0.</param>
    /// <param name="maxScale">Upper clamp; &gt;= <paramref name="minScale"/>.</param>
    /// <param name="enabled">False makes the scaler a pass-through.</param>
    /// <exception cref="ArgumentException">An option is out of range; <see cref="ArgumentException.ParamName"/> names it.</exception>
    public GradScaler(
        double initialScale = LossScaleOptions.DefaultInitialScale,
        double growthFactor = LossScaleOptions.DefaultGrowthFactor,
        double backoffFactor = LossScaleOptions.DefaultBackoffFactor,
        int growthInterval = LossScaleOptions.DefaultGrowthInterval,
        int hysteresis = LossScaleOptions.DefaultHysteresis,
        double minScale = LossScaleOptions.DefaultMinScale,
        double maxScale = LossScaleOptions.DefaultMaxScale,
        bool enabled = true)
    {
        Configure(initialScale, growthFactor, backoffFactor, growthInterval, hysteresis, minScale, maxScale, enabled);
        scale = initialScale;
        hysteresisLeft = hysteresis;
    }

    /// <summary>The scale the next <see cref="Scale"/> multiplies by; 1 when disabled.</summary>
    public double CurrentScale => enabled ? scale : 1.0;

    /// <summary>Optimizer steps skipped so far because a gradient was inf/NaN.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Whether the scaler scales (false: pass-through).</summary>
    public bool IsEnabled => enabled;

    /// <summary>
    /// Consecutive skipped steps at <c>minScale</c> after which <see cref="Update"/> throws
    /// <see cref="LossScaleStalledException"/>; 0 turns the exception off (the warning after
    /// <see cref="MinScaleStallWarningSteps"/> steps stays). Default 100. Part of <see cref="GetState"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MaxSkippedStepsAtMinScale
    {
        get => maxSkippedStepsAtMinScale;
        set
        {
            if (value < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Must be >= 0 (0 never throws).");
            }

            maxSkippedStepsAtMinScale = value;
        }
    }

    /// <summary>Steps skipped in a row while the scale was already at <c>minScale</c> (0 after any clean step).</summary>
    public int SkippedStepsAtMinScale => skippedAtMinScale;

    /// <summary>
    /// Multiplies the loss by the current scale; call <c>backward</c> on the result. A half loss is
    /// widened to fp32 first so the scaled loss itself cannot overflow.
    /// </summary>
    public Tensor Scale(Tensor loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (!enabled)
        {
            return loss;
        }

        return Precision.Cast(loss, loss.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32) * scale;
    }

    /// <summary>
    /// Divides the gradients of <paramref name="optimizer"/>'s parameters by the scale, in place,
    /// and records on the device whether any is inf/NaN. Call it before clipping so the clip
    /// threshold is in true units; <see cref="Step"/> calls it when you have not.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called twice for the optimizer since the last <see cref="Update"/>, or after <see cref="Step"/>.</exception>
    public void Unscale(Optimizer optimizer) => UnscaleGradients(optimizer, gradients: null);

    /// <summary><see cref="Unscale(Optimizer)"/> over <paramref name="gradients"/> (null: <see cref="GradientsOf"/>).</summary>
    internal void UnscaleGradients(Optimizer optimizer, IEnumerable<Tensor>? gradients)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (!enabled)
        {
            return;
        }

        if (records.TryGetValue(optimizer, out var record))
        {
            throw new InvalidOperationException(record.Stepped
                ? "Unscale called after Step for this optimizer; call Update first."
                : "Unscale has already been called for this optimizer since the last Update.");
        }

        records[optimizer] = new StepRecord(UnscaleAndCheck(gradients ?? GradientsOf(optimizer), 1.0 / scale), () => GradientsOf(optimizer));
    }

    /// <summary>
    /// Unscales (if not done yet) and runs <c>optimizer.step()</c> unless a gradient is inf/NaN.
    /// The only host synchronisation of the step happens here. Disabled, it always steps.
    /// </summary>
    /// <returns>True when the optimizer stepped; false when the step was skipped (parameters and optimizer state untouched).</returns>
    /// <exception cref="InvalidOperationException">Step was already called for this optimizer since the last <see cref="Update"/>.</exception>
    public bool Step(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (enabled)
        {
            return StepReadingAlong(optimizer, null, null, out _);
        }

        optimizer.step();
        return true;
    }

    /// <summary>
    /// The generated training step's <see cref="Step(Optimizer)"/>: skips a step whose gradients hold
    /// inf/NaN in every precision, also when the scaler is disabled (bf16, fp32: the check runs without
    /// unscaling, and <see cref="Update"/> counts the skip towards the stall limit). It also reads the 0-d
    /// tensor <paramref name="readAlong"/> (the loss) to the host in the same transfer as the overflow
    /// flag, so a training step that reports its loss still synchronises once.
    /// </summary>
    internal bool StepReadingAlong(Optimizer optimizer, IEnumerable<Tensor>? gradients, Tensor? readAlong, out double readValue)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        if (records.TryGetValue(optimizer, out var existing) && existing.Stepped)
        {
            throw new InvalidOperationException("Step has already been called for this optimizer since the last Update.");
        }

        if (existing is null)
        {
            if (enabled)
            {
                UnscaleGradients(optimizer, gradients);
            }
            else
            {
                records[optimizer] = new StepRecord(UnscaleAndCheck(gradients ?? GradientsOf(optimizer), inverseScale: 1.0), () => GradientsOf(optimizer));
            }
        }

        var record = records[optimizer];
        record.ResolveOverflow(readAlong, out readValue);
        record.Stepped = true;
        if (record.Overflow == true)
        {
            SkippedSteps++;
            return false;
        }

        optimizer.step();
        return true;
    }

    /// <summary>
    /// Adjusts the scale after the iteration's <see cref="Step"/>: an overflow backs it off (after
    /// <c>hysteresis</c> overflows, never below <c>minScale</c>); <c>growthInterval</c> consecutive
    /// clean steps grow it (never above <c>maxScale</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">Neither <see cref="Unscale"/> nor <see cref="Step"/> ran since the last update.</exception>
    /// <exception cref="LossScaleStalledException">
    /// This step, and the <see cref="MaxSkippedStepsAtMinScale"/> - 1 before it, overflowed with the
    /// scale already at <c>minScale</c>. The update itself is complete when it is thrown: the scaler
    /// stays consistent and usable.
    /// </exception>
    public void Update()
    {
        if (records.Count == 0)
        {
            if (!enabled)
            {
                return;
            }

            throw new InvalidOperationException("Update called without an inf/NaN check: call Step (or Unscale) first.");
        }

        bool overflow;
        try
        {
            overflow = false;
            foreach (var record in records.Values)
            {
                record.ResolveOverflow(null, out _);
                overflow |= record.Overflow == true;
            }
        }
        finally
        {
            ClearRecords();
        }

        if (overflow)
        {
            growthTracker = 0;
            // Disabled, the scale is fixed at 1: every non-finite step is one nothing can fix by scaling.
            var atMinScale = !enabled || scale <= minScale;
            if (enabled && hysteresisLeft <= 1)
            {
                scale = Math.Max(scale * backoffFactor, minScale);
            }
            else if (enabled)
            {
                hysteresisLeft--;
            }

            skippedAtMinScale = atMinScale ? skippedAtMinScale + 1 : 0;
            ReportStall();
            return;
        }

        skippedAtMinScale = 0;
        if (enabled && ++growthTracker >= growthInterval)
        {
            scale = Math.Min(scale * growthFactor, maxScale);
            growthTracker = 0;
            hysteresisLeft = hysteresis;
        }
    }

    /// <summary>A snapshot of the scaler's state and configuration for checkpoints.</summary>
    public GradScalerState GetState() => new(
        scale, growthTracker, hysteresisLeft, SkippedSteps,
        initialScale, growthFactor, backoffFactor, growthInterval, hysteresis, minScale, maxScale, enabled,
        skippedAtMinScale, maxSkippedStepsAtMinScale);

    /// <summary>
    /// Restores a state from <see cref="GetState"/> (configuration included) so the run continues
    /// exactly; any unfinished iteration (unscale/step without update) is discarded. The whole state is
    /// validated first: when it throws, the scaler is exactly as it was.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The configuration is invalid (as in the constructor), the scale is not a finite number within
    /// [MinScale, MaxScale], or a counter lies outside what the configuration allows.
    /// </exception>
    public void LoadState(GradScalerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Validate(state.InitialScale, state.GrowthFactor, state.BackoffFactor, state.GrowthInterval,
            state.Hysteresis, state.MinScale, state.MaxScale);
        if (!(double.IsFinite(state.Scale) && state.Scale >= state.MinScale && state.Scale <= state.MaxScale))
        {
            throw new ArgumentOutOfRangeException(nameof(state), state.Scale, "Scale must be a finite number within [MinScale, MaxScale].");
        }

        if (state.GrowthTracker < 0 || state.GrowthTracker >= state.GrowthInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(state), state.GrowthTracker, "GrowthTracker must lie in [0, GrowthInterval).");
        }

        if (state.HysteresisLeft < 1 || state.HysteresisLeft > state.Hysteresis)
        {
            throw new ArgumentOutOfRangeException(nameof(state), state.HysteresisLeft, "HysteresisLeft must lie in [1, Hysteresis].");
        }

        if (state.SkippedSteps < 0 || state.SkippedStepsAtMinScale < 0 || state.SkippedStepsAtMinScale > state.SkippedSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(state), "SkippedSteps must be >= 0 and SkippedStepsAtMinScale within [0, SkippedSteps].");
        }

        if (state.MaxSkippedStepsAtMinScale < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(state), state.MaxSkippedStepsAtMinScale, "MaxSkippedStepsAtMinScale must be >= 0.");
        }

        ClearRecords();
        Configure(state.InitialScale, state.GrowthFactor, state.BackoffFactor, state.GrowthInterval,
            state.Hysteresis, state.MinScale, state.MaxScale, state.Enabled);
        scale = state.Scale;
        growthTracker = state.GrowthTracker;
        hysteresisLeft = state.HysteresisLeft;
        SkippedSteps = state.SkippedSteps;
        skippedAtMinScale = state.SkippedStepsAtMinScale;
        maxSkippedStepsAtMinScale = state.MaxSkippedStepsAtMinScale;
    }

    /// <summary>
    /// Multiplies every gradient by <paramref name="inverseScale"/> in place and returns a 0-d fp32 tensor, the sum of
    /// every gradient, which is finite whenever no gradient holds inf/NaN (a NaN propagates, an inf stays inf or meets
    /// an opposite one and gives NaN). One read-only reduction per gradient and no gradient-sized temporary; whether it
    /// is finite is read on the host with the step's one transfer (<see cref="StepRecord.ResolveOverflow"/>). Where
    /// launches dominate a step (a small model on a GPU) each kernel counts: a flag computed on the device took five.
    /// A sum can also overflow with every value finite; <see cref="HoldsInfOrNaN"/> then decides. Null when there is
    /// no gradient: nothing to check, and no device to put a zero on.
    /// </summary>
    internal static Tensor? UnscaleAndCheck(IEnumerable<Tensor> gradients, double inverseScale)
    {
        using var scope = NewDisposeScope();
        var sums = new List<Tensor>();
        using (no_grad())
        {
            foreach (var gradient in gradients)
            {
                if (gradient.numel() == 0)
                {
                    continue;
                }

                if (inverseScale != 1.0)
                {
                    gradient.mul_(inverseScale);
                }

                // Half gradients sum in fp32: their own range overflows at 65504.
                sums.Add(gradient.dtype == ScalarType.Float32 ? gradient.sum() : gradient.sum(ScalarType.Float32));
            }
        }

        var check = sums.Count switch
        {
            0 => null,
            1 => sums[0],
            _ => stack(sums).sum(),
        };
        return check?.DetachFromDisposeScope();
    }

    /// <summary>
    /// Whether a gradient holds inf/NaN, exactly: the min or max of each (both propagate NaN) must be finite. Reads the
    /// result to the host; called only when the check sum was not finite, to tell an inf/NaN from a sum that overflowed.
    /// </summary>
    internal static bool HoldsInfOrNaN(IEnumerable<Tensor> gradients)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var extremes = new List<Tensor>();
        foreach (var gradient in gradients.Where(g => g.numel() > 0))
        {
            var (min, max) = gradient.aminmax();
            extremes.Add(min.to(ScalarType.Float32));
            extremes.Add(max.to(ScalarType.Float32));
        }

        return extremes.Count > 0 && !isfinite(stack(extremes)).all().item<bool>();
    }

    /// <summary>
    /// The gradients <paramref name="optimizer"/> steps with: for a fused flat optimizer (<see cref="FlatAdamW"/>,
    /// <see cref="FlatSgd"/>) a few contiguous ranges of the flat gradient buffers, so unscaling, the inf/NaN check
    /// and clipping are a few kernels whatever the number of parameters; otherwise each parameter's gradient.
    /// </summary>
    internal static IEnumerable<Tensor> GradientsOf(Optimizer optimizer) =>
        optimizer is IFlatOptimizer flat ? flat.GradientRanges() : GradientsOfParameters(optimizer);

    internal static IEnumerable<Tensor> GradientsOfParameters(Optimizer optimizer) =>
        optimizer.parameters().Select(p => p.grad).OfType<Tensor>();

    private void Configure(double initialScale, double growthFactor, double backoffFactor, int growthInterval,
        int hysteresis, double minScale, double maxScale, bool enabled)
    {
        Validate(initialScale, growthFactor, backoffFactor, growthInterval, hysteresis, minScale, maxScale);
        this.initialScale = initialScale;
        this.growthFactor = growthFactor;
        this.backoffFactor = backoffFactor;
        this.growthInterval = growthInterval;
        this.hysteresis = hysteresis;
        this.minScale = minScale;
        this.maxScale = maxScale;
        this.enabled = enabled;
    }

    private static void Validate(double initialScale, double growthFactor, double backoffFactor, int growthInterval,
        int hysteresis, double minScale, double maxScale)
    {
        if (!(minScale > 0) || double.IsInfinity(minScale))
        {
            throw new ArgumentOutOfRangeException(nameof(minScale), minScale, "Must be a finite number > 0.");
        }

        if (!(maxScale >= minScale) || double.IsInfinity(maxScale))
        {
            throw new ArgumentOutOfRangeException(nameof(maxScale), maxScale, "Must be a finite number >= minScale.");
        }

        if (!(initialScale > 0) || double.IsInfinity(initialScale))
        {
            throw new ArgumentOutOfRangeException(nameof(initialScale), initialScale, "Must be a finite number > 0.");
        }

        if (initialScale < minScale || initialScale > maxScale)
        {
            throw new ArgumentOutOfRangeException(nameof(initialScale), initialScale, "Must lie within [minScale, maxScale].");
        }

        if (!(growthFactor > 1) || double.IsInfinity(growthFactor))
        {
            throw new ArgumentOutOfRangeException(nameof(growthFactor), growthFactor, "Must be a finite number > 1.");
        }

        if (!(backoffFactor > 0 && backoffFactor < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(backoffFactor), backoffFactor, "Must lie in (0, 1).");
        }

        if (growthInterval <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(growthInterval), growthInterval, "Must be > 0.");
        }

        if (hysteresis < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(hysteresis), hysteresis, "Must be >= 1 (1 backs off at the first overflow).");
        }
    }

    /// <summary>Warns once per stall, then throws once the stall reaches the limit.</summary>
    private void ReportStall()
    {
        if (skippedAtMinScale == MinScaleStallWarningSteps && skippedAtMinScale != maxSkippedStepsAtMinScale)
        {
            Logger.LogWarning(
                "PrecisionDsl: the last {Steps} optimizer steps were skipped: their gradients held inf/NaN {Why}. The gradients overflow in true units (NaN inputs, a diverged loss, a too-large learning rate?); GradScaler throws after {Limit} such steps in a row (MaxSkippedStepsAtMinScale, 0 = never).",
                skippedAtMinScale, enabled ? $"although the loss scale is at its minimum ({minScale})" : "with no loss scaling in this precision", maxSkippedStepsAtMinScale);
        }

        if (maxSkippedStepsAtMinScale > 0 && skippedAtMinScale >= maxSkippedStepsAtMinScale)
        {
            throw new LossScaleStalledException(skippedAtMinScale, minScale, lossScaled: enabled);
        }
    }

    private void ClearRecords()
    {
        foreach (var record in records.Values)
        {
            record.Dispose();
        }

        records.Clear();
    }

    /// <summary>What one optimizer went through since the last update.</summary>
    /// <param name="checkSum">The gradients' sum from <see cref="UnscaleAndCheck"/>: not finite on inf/NaN; null without gradients.</param>
    /// <param name="gradients">The optimizer's gradients, read again only when the check sum is not finite.</param>
    private sealed class StepRecord(Tensor? checkSum, Func<IEnumerable<Tensor>> gradients) : IDisposable
    {
        public bool Stepped { get; set; }

        public bool? Overflow { get; private set; }

        /// <summary>
        /// Reads the check sum once (the host synchronisation) and remembers whether the gradients hold inf/NaN;
        /// <paramref name="readAlong"/> travels in the same transfer.
        /// </summary>
        public void ResolveOverflow(Tensor? readAlong, out double readValue)
        {
            readValue = double.NaN;
            if (readAlong is null && Overflow is not null)
            {
                return; // resolved by Step already: Update reads nothing more
            }

            float sum = 0;
            if (readAlong is null)
            {
                sum = checkSum?.item<float>() ?? 0;
            }
            else
            {
                using var scope = NewDisposeScope();
                var loss = readAlong.detach().to(ScalarType.Float32).reshape();
                // Without gradients there is nothing to check, only the loss to read.
                var values = (checkSum is null ? loss : stack(new[] { checkSum, loss })).cpu().data<float>().ToArray();
                (sum, readValue) = checkSum is null ? (0f, values[0]) : (values[0], values[1]);
            }

            Overflow ??= !float.IsFinite(sum) && HoldsInfOrNaN(gradients());
        }

        public void Dispose() => checkSum?.Dispose();
    }
}
