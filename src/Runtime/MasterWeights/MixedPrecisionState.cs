using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl;

/// <summary>
/// The run-time side of one precision model: fp32 master weights with persistent half shadows,
/// the forward scope that swaps them in, and the loss-scaled training step. The generator creates
/// one per model instance; user code reaches it through the model's generated members.
/// </summary>
/// <remarks>
/// <para><b>Optimizer.</b> <c>model.CreateAdamW(...)</c>/<c>model.CreateSgd(...)</c>
/// (<see cref="FlatOptimizers"/>) update the flat fp32 masters in a few kernels; any TorchSharp optimizer
/// built on <c>model.parameters()</c> works too: those are the fp32 masters (the shadows are never
/// registered), views of the flat buffers (<see cref="FlatBuffers"/>) from the first forward on, the same
/// Parameter objects. The optimizer updates the masters; the next forward refreshes the shadows from them
/// in place.</para>
/// <para><b>Training step.</b> The generated <c>TrainStep(x, target, optimizer, scaler)</c> runs
/// forward, the fp32 loss, the scaled backward (which accumulates the half layers' gradients straight
/// into the masters' fp32 gradients, see <see cref="FlatBuffers"/>), unscales, clips when
/// <c>maxGradNorm</c> is given, steps or skips on inf/NaN, updates the scale and zeroes the gradients
/// in place.</para>
/// <para><b>Gradient accumulation.</b> Call the generated <c>AccumulateGradients</c> once per
/// micro-batch and <c>ApplyGradients</c> once per effective batch:
/// <code>
/// var scaler = model.CreateGradScaler();
/// var optimizer = torch.optim.Adam(model.parameters(), lr: 1e-3);
/// foreach (var batch in batches)
/// {
///     foreach (var (x, y) in batch.MicroBatches)          // e.g. 4 micro-batches
///         model.AccumulateGradients(x, y, scaler, lossWeight: 1.0 / 4);
///     var result = model.ApplyGradients(optimizer, scaler, maxGradNorm: 1.0);
///     Console.WriteLine($"loss {result.Loss:F4} stepped {result.Stepped} scale {result.Scale}");
/// }
/// </code></para>
/// <para><b>Hand-written loop.</b> Without the generated step, call <see cref="MoveGradientsToMasters(Module)"/>
/// after every <c>backward</c>; the gradients then sit on the masters, where the optimizer and
/// <see cref="GradScaler"/> look for them:
/// <code>
/// optimizer.zero_grad();                                   // zeroes the masters' gradients in place
/// scaler.Scale(functional.cross_entropy(model.call(x), y)).backward();
/// MixedPrecisionState.MoveGradientsToMasters(model);       // half shadow gradients -> fp32 masters
/// scaler.Step(optimizer);
/// scaler.Update();
/// </code></para>
/// </remarks>
public sealed class MixedPrecisionState
{
    private readonly Module owner;
    private readonly PrecisionLayer[] layers;
    private readonly LossScaleOptions lossScale;
    private readonly ShadowWeights shadows;
    private readonly ConditionalWeakTable<Optimizer, FlatLayout> layoutsOfOptimizers = new();
    private readonly ConditionalWeakTable<Optimizer, StrongBox<(long, long)>> shadowChecks = new();
    private bool warnedAboutUnmovedGradients;
    private bool warnedAboutUnscaledFp16;
    private (FlatBuffers? Layout, bool RealFp16) realFp16InLayout;
    // The weighted sum of the losses accumulated since the last step, kept on the device: the step reads it along with
    // its overflow check, so an accumulated batch synchronises once, not once per micro-batch.
    private Tensor? pendingLoss;
    private readonly ConcurrentDictionary<(PrecisionKind Kind, DeviceType DeviceType), ScalarType> activationDtypes = new();
    private int enteredOnce;

    /// <summary>Creates the state of <paramref name="owner"/>; shadows are built at the first forward.</summary>
    /// <param name="owner">The precision model.</param>
    /// <param name="layers">Its layer members with their resolved precision (fp32 ones may be omitted).</param>
    /// <param name="lossScale">The <c>[LossScaled]</c> options, or null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="owner"/> or <paramref name="layers"/> is null.</exception>
    /// <exception cref="ArgumentException">A layer has no name or an undefined <see cref="PrecisionKind"/>.</exception>
    public MixedPrecisionState(Module owner, PrecisionLayer[] layers, LossScaleOptions? lossScale)
    {
        this.owner = owner ?? throw new ArgumentNullException(nameof(owner));
        this.layers = layers ?? throw new ArgumentNullException(nameof(layers));
        foreach (var layer in layers)
        {
            if (layer.Name is null || !Enum.IsDefined(layer.Kind))
            {
                throw new ArgumentException($"Every layer needs a name and a defined precision kind; found ('{layer.Name}', {layer.Kind}).", nameof(layers));
            }
        }

        this.lossScale = lossScale ?? LossScaleOptions.Default;
        shadows = new ShadowWeights(owner, layers) { OnEnter = WarnOnceIfGradientsWereNotMoved };
    }

    /// <summary>
    /// The settings this model runs under: <see cref="PrecisionPolicy.Current"/> when the state was created (the
    /// model's first forward, <c>TrainStep</c> or <c>CreateGradScaler</c>), for the model's lifetime.
    /// </summary>
    public PrecisionSettings Settings => shadows.Settings;

    /// <summary>
    /// The dtype activations of <paramref name="kind"/> have in the model's generated forward on <paramref name="deviceType"/>
    /// (<see cref="PrecisionSettings.ActivationDtypeFor"/>): asked at every cast the forward makes, decided once, as the
    /// settings and the CPU's kernel choices do not change.
    /// </summary>
    internal ScalarType ActivationDtype(PrecisionKind kind, DeviceType deviceType) =>
        activationDtypes.GetOrAdd((kind, deviceType), static (key, settings) => settings.ActivationDtypeFor(key.Kind, key.DeviceType), Settings);

    /// <summary>The master/shadow pairs (for tests and diagnostics).</summary>
    internal IReadOnlyList<ShadowSlot> Slots => shadows.Slots;

    /// <summary>The flat master, shadow and gradient buffers; null until the first forward.</summary>
    internal FlatBuffers? Flat => shadows.Flat;

    /// <summary>
    /// Persistent training-state bytes of <paramref name="model"/> and the precision models inside it by kind, with the
    /// flat state of a fused <paramref name="optimizer"/> (docs/ARCHITECTURE.md, "Bytes per parameter").
    /// </summary>
    internal static PersistentBytes PersistentBytesOf(Module model, Optimizer? optimizer) =>
        FlatBuffersWithin(model).Aggregate(default(PersistentBytes), (sum, flat) => sum + flat.PersistentBytes)
        with { OptimizerState = (optimizer as IFlatOptimizer)?.StateBytes ?? 0 };

    /// <summary>Refreshes of the shadows from changed masters so far (a test hook).</summary>
    internal int ShadowRefreshes => shadows.Refreshes;

    /// <summary>
    /// Puts the half shadows into the layers (refreshed first when the fp32 masters changed since the last
    /// forward); disposing the returned scope puts the masters back once no generated forward of the model
    /// runs any more. Nested calls on one thread share the outermost scope; calls on several threads run
    /// at once (see <see cref="ShadowWeights"/>).
    /// </summary>
    public ForwardScope EnterForward()
    {
        // At the first forward, not in the constructor: a state LazyInitializer created and dropped in a race never gets here.
        if (Volatile.Read(ref enteredOnce) == 0 && Interlocked.Exchange(ref enteredOnce, 1) == 0)
        {
            PrecisionStates.Add(owner, this);
        }

        shadows.Enter();
        return new ForwardScope(this, DeviceTypeOfModel());
    }

    /// <summary>
    /// Tells the model its fp32 masters changed outside its own training members (a write into a parameter,
    /// an optimizer stepped by hand without <see cref="MoveGradientsToMasters(Module)"/>): the next forward
    /// refreshes the half shadows of <paramref name="model"/> and of every precision model inside it.
    /// Loading through <see cref="TrainingCheckpoint"/>, <c>load</c> or <c>load_state_dict</c> does it already.
    /// Call it too after freezing or unfreezing parameters (<c>requires_grad_</c>) of a model that has run a forward
    /// and trains through the generated members: they read no <c>requires_grad</c> flag per step.
    /// </summary>
    public static void MastersChanged(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        MarkMastersChanged(model);
    }

    private static void MarkMastersChanged(Module model)
    {
        foreach (var state in StatesWithin(model))
        {
            state.shadows.MastersChanged();
        }
    }

    /// <summary>
    /// One optimizer step: <paramref name="computeLoss"/> (forward + fp32 loss), scaled backward,
    /// gradients into the masters, unscale, optional clipping of the unscaled gradients to
    /// <paramref name="maxGradNorm"/>, step or skip on inf/NaN, scale update, gradients zeroed in place.
    /// </summary>
    /// <remarks>The loss is read back together with the overflow flag: one host synchronisation per step.</remarks>
    public TrainStepResult TrainStep(Func<Tensor> computeLoss, Optimizer optimizer, GradScaler scaler, double? maxGradNorm)
    {
        ArgumentNullException.ThrowIfNull(computeLoss);
        ValidateStepArguments(optimizer, scaler, maxGradNorm);
        // Every temporary of the step (wrappers of gradients, the optimizer's and the check's) is released
        // here, not left to the garbage collector: on CUDA that memory is held until a collection.
        using var scope = NewDisposeScope();
        var loss = BackwardIntoMasters(computeLoss, scaler, 1.0, out var states);
        return ApplyGradientsCore(optimizer, scaler, maxGradNorm, loss, states);
    }

    /// <summary>
    /// One micro-batch of gradient accumulation: computes the loss, back-propagates
    /// <c>scale × lossWeight × loss</c> and adds the gradients to the masters' persistent fp32
    /// gradients. Follow the micro-batches of an effective batch with one <see cref="ApplyGradients"/>.
    /// </summary>
    /// <remarks>Nothing is read back to the host: <see cref="ApplyGradients"/> returns the weighted sum of the
    /// micro-batches' losses, read in the step's one synchronisation.</remarks>
    public void AccumulateGradients(Func<Tensor> computeLoss, GradScaler scaler, double lossWeight)
    {
        ArgumentNullException.ThrowIfNull(computeLoss);
        ArgumentNullException.ThrowIfNull(scaler);
        if (!double.IsFinite(lossWeight))
        {
            throw new ArgumentOutOfRangeException(nameof(lossWeight), lossWeight, "Must be finite.");
        }

        using var scope = NewDisposeScope();
        var loss = BackwardIntoMasters(computeLoss, scaler, lossWeight, out _);
        if (pendingLoss is null)
        {
            pendingLoss = loss.mul(lossWeight).DetachFromDisposeScope();
        }
        else
        {
            pendingLoss.add_(loss, alpha: lossWeight);
        }
    }

    /// <summary>
    /// Ends an effective batch: unscale, optional clipping, step or skip, scale update, gradients
    /// zeroed in place. The optimizer must hold the fp32 masters (<c>model.parameters()</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The optimizer holds half shadows instead of the masters.</exception>
    public TrainStepResult ApplyGradients(Optimizer optimizer, GradScaler scaler, double? maxGradNorm)
    {
        ValidateStepArguments(optimizer, scaler, maxGradNorm);
        using var scope = NewDisposeScope();
        return ApplyGradientsCore(optimizer, scaler, maxGradNorm, null, StatesWithin(owner).ToList());
    }

    /// <summary>
    /// The gradients <paramref name="optimizer"/> steps with, for the unscale, the inf/NaN check and clipping: a fused
    /// optimizer's ranges; for a TorchSharp optimizer whose every parameter lies in the flat buffers (the usual
    /// <c>optim.AdamW(model.parameters())</c>), the contiguous ranges of the flat gradient buffers those parameters'
    /// gradients are views of (resolved again when a layout was rebuilt or the optimizer's parameter count changed);
    /// otherwise each parameter's gradient.
    /// </summary>
    internal IEnumerable<Tensor> GradientsOf(Optimizer optimizer)
    {
        if (optimizer is IFlatOptimizer || optimizer.ParamGroups is not { } controllers)
        {
            return GradScaler.GradientsOf(optimizer);
        }

        var groups = controllers.OfType<ParamGroup>().ToList();
        var layout = layoutsOfOptimizers.GetValue(optimizer, _ => new FlatLayout(owner));
        layout.Update(groups, force: groups.Sum(g => g.Parameters.Count()) != layout.ParameterCount);
        return layout.Loose.Count == 0 && layout.Ranges.Count > 0 && layout.Ranges.All(r => r.Group.Gradients is not null)
            ? layout.Gradients()
            : GradScaler.GradientsOfParameters(optimizer);
    }

    /// <summary>Checked before any work, so a bad argument never leaves a half-done step behind.</summary>
    private static void ValidateStepArguments(Optimizer optimizer, GradScaler scaler, double? maxGradNorm)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(scaler);
        if (maxGradNorm is { } limit && !(limit > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(maxGradNorm), limit, "Must be > 0.");
        }
    }

    // states: the states within the model, from the step's one walk of the module tree (the nested precision models
    // whose masters this step changes).
    private TrainStepResult ApplyGradientsCore(Optimizer optimizer, GradScaler scaler, double? maxGradNorm, Tensor? stepLoss,
        List<MixedPrecisionState> states)
    {
        RejectShadowsIn(optimizer, states);
        var unreadLoss = (pendingLoss, stepLoss) switch
        {
            (null, _) => stepLoss,
            (_, null) => pendingLoss,
            _ => pendingLoss.add(stepLoss),
        };
        bool stepped;
        double loss;
        try
        {
            // Listed once: the unscale, the clipping and the step's check use the same views.
            var gradients = GradientsOf(optimizer).ToList();
            if (maxGradNorm is { } maxNorm)
            {
                scaler.UnscaleGradients(optimizer, gradients);
                ClipGradientNorm(gradients, maxNorm);
            }

            var blocked = new List<IDisposable>(states.Count);
            try
            {
                // Outer model first, as forwards enter them: no forward reads a master while it steps.
                blocked.AddRange(states.Select(state => state.shadows.BlockForwards()));
                stepped = scaler.StepReadingAlong(optimizer, gradients, unreadLoss, out loss);
                if (stepped)
                {
                    // Before the forwards resume, so none pairs new fp32 layers with old half shadows.
                    states.ForEach(state => state.shadows.MastersChanged(requiresGradMayHaveChanged: false));
                }
            }
            finally
            {
                blocked.ForEach(b => b.Dispose());
            }

            scaler.Update();
        }
        finally
        {
            // Also when the scaler throws (e.g. a stalled scale): the next step starts clean.
            ZeroGradients(states);
            pendingLoss?.Dispose();
            pendingLoss = null;
        }

        return new TrainStepResult(unreadLoss is null ? 0 : loss, stepped, scaler.CurrentScale);
    }

    /// <summary>
    /// Runs <paramref name="computeLoss"/> and back-propagates the scaled, weighted loss into the masters'
    /// gradients. Returns the unweighted fp32 loss, still on the device, and the states within the model (listed
    /// after the forward: a state joins at its first forward).
    /// </summary>
    private Tensor BackwardIntoMasters(Func<Tensor> computeLoss, GradScaler scaler, double lossWeight, out List<MixedPrecisionState> states)
    {
        using var scope = NewDisposeScope();
        Tensor value;
        // The loss's temporaries — the forward's fp32 result first, batch x positions x vocabulary for a language
        // model's head — are freed before the backward: autograd keeps what it needs (log_softmax its output).
        using (var lossScope = NewDisposeScope())
        {
            value = Temporaries.Keep(lossScope, Precision.Cast(computeLoss(), ScalarType.Float32));
        }

        var weighted = lossWeight == 1.0 ? value : value * lossWeight;
        states = StatesWithin(owner).ToList();
        WarnOnceIfFp16RunsUnscaled(scaler, states);
        // The half gradients go straight into the fp32 master gradients and are never stored: the shadows point
        // at them for this backward only, so a hand-written backward later gets gradients of its own.
        states.ForEach(state => state.shadows.AttachShadowGradients());
        try
        {
            scaler.Scale(weighted).backward();
        }
        finally
        {
            states.ForEach(state => state.shadows.ReleaseShadowGradients());
        }

        return value.detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A scaler configured from the model's <c>[LossScaled]</c> options; disabled (pass-through)
    /// unless some layer of this model, or of a precision model nested in it, runs in real float16 on its device.
    /// </summary>
    public GradScaler CreateGradScaler() => new(
        lossScale.InitialScale, lossScale.GrowthFactor, lossScale.BackoffFactor, lossScale.GrowthInterval,
        lossScale.Hysteresis, lossScale.MinScale, lossScale.MaxScale, enabled: RunsRealFp16()) { Logger = Settings.Logger };

    /// <summary>
    /// Moves the half gradients of this model's shadows into the fp32 masters' gradients. Needed
    /// only in a hand-written loop, after each <c>backward</c>.
    /// </summary>
    /// <remarks>The optimizer is about to step the masters, so the next forward refreshes the shadows. A
    /// hand-written loop may have cleared gradients (<c>model.zero_grad()</c>) or replaced some, so every
    /// master gradient is checked to be its flat buffer's view (a pointer read per parameter); each shadow's
    /// gradient, which autograd allocated, is added into its master's (a kernel per parameter) and released.</remarks>
    public void MoveGradientsToMasters()
    {
        shadows.MoveGradientsToMasters();
        shadows.MastersChanged();
    }

    /// <summary>
    /// Moves the half gradients of <paramref name="model"/> and of every precision model nested in it
    /// into their fp32 masters. Call it after each <c>backward</c> in a hand-written training loop
    /// (the generated <c>TrainStep</c>/<c>AccumulateGradients</c> do it for you).
    /// </summary>
    public static void MoveGradientsToMasters(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var state in StatesWithin(model))
        {
            state.MoveGradientsToMasters();
        }
    }

    internal void ExitForward() => shadows.Exit();

    /// <summary>The flat buffers of <paramref name="model"/> and of the precision models inside it that have run a forward.</summary>
    internal static IEnumerable<FlatBuffers> FlatBuffersWithin(Module model) =>
        StatesWithin(model).Select(s => s.shadows.Flat).OfType<FlatBuffers>();

    /// <summary>The states of <paramref name="model"/> and of every precision model inside it that has run a forward.</summary>
    private static IEnumerable<MixedPrecisionState> StatesWithin(Module model) =>
        model.modules().Prepend(model).OfType<IPrecisionModel>().SelectMany(precisionModel => precisionModel.PrecisionStatesInUse);

    /// <summary>
    /// Clips the gradients' global L2 norm on the device, as <c>torch.nn.utils.clip_grad_norm_</c>
    /// does, without reading the norm back to the host (the step's one synchronisation is the
    /// scaler's overflow check).
    /// </summary>
    private static void ClipGradientNorm(IReadOnlyList<Tensor> gradients, double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        if (gradients.Count == 0)
        {
            return;
        }

        var totalNorm = stack(gradients.Select(g => linalg.vector_norm(g)).ToArray()).norm();
        var coefficient = (maxNorm / (totalNorm + 1e-6)).clamp_max(1.0);
        foreach (var gradient in gradients)
        {
            gradient.mul_(coefficient);
        }
    }

    private void ZeroGradients(List<MixedPrecisionState> states)
    {
        if (states.All(s => s.shadows.Flat is not null))
        {
            // Every parameter of the model is in one of these buffers: one kernel per buffer.
            states.ForEach(s => s.shadows.Flat!.ZeroGradients());
            return;
        }

        using var noGrad = no_grad();
        foreach (var parameter in owner.parameters())
        {
            using var gradient = parameter.grad;
            gradient?.zero_();
        }
    }

    private void RejectShadowsIn(Optimizer optimizer, List<MixedPrecisionState> states)
    {
        // A fused optimizer's parameters change only through add_param_group, the shadows only at a build: checked
        // once per change, not at every step.
        (long, long)? version = optimizer is IFlatOptimizer flat ? (FlatBuffers.Builds, flat.GroupsAdded) : null;
        if (version is { } current && shadowChecks.TryGetValue(optimizer, out var checkedAt) && checkedAt.Value == current)
        {
            return;
        }

        var shadowHandles = states.SelectMany(s => s.Slots)
            .SelectMany(s => s.Widened is null ? new[] { s.Shadow.Handle } : new[] { s.Shadow.Handle, s.Widened.Handle })
            .ToHashSet();
        if (shadowHandles.Count > 0 && optimizer.parameters().Any(p => shadowHandles.Contains(p.Handle)))
        {
            throw new InvalidOperationException(
                "The optimizer holds half shadow weights; build it on model.parameters() (the fp32 masters) outside forward.");
        }

        if (version is { } checkedNow)
        {
            shadowChecks.AddOrUpdate(optimizer, new StrongBox<(long, long)>(checkedNow));
        }
    }

    // A nested precision model (keeping its own plan) may run fp16 where this one does not; its state may not exist yet
    // (states are built at the first forward), so its own [Fp16] attributes say so.
    private bool RunsRealFp16() =>
        OwnLayersRunRealFp16() || owner.modules().Where(m => m is IPrecisionModel && DeclaresFp16(m.GetType())).Any(IsRealFp16On);

    private bool OwnLayersRunRealFp16() => layers.Any(l => l.Kind == PrecisionKind.Fp16 && l.Module is not null && IsRealFp16On(l.Module));

    // Decided again only when the layout is rebuilt (a move to another device rebuilds it).
    private bool OwnLayersRunRealFp16InLayout()
    {
        var layout = shadows.Flat;
        if (!ReferenceEquals(realFp16InLayout.Layout, layout))
        {
            realFp16InLayout = (layout, OwnLayersRunRealFp16());
        }

        return realFp16InLayout.RealFp16;
    }

    /// <summary>
    /// fp16 trained without loss scaling flushes small gradients to zero, silently. The likely cause is a scaler made
    /// before <c>model.to(cuda)</c>, when Fp16 still meant bf16 on the CPU and <see cref="CreateGradScaler"/> disabled it.
    /// </summary>
    private void WarnOnceIfFp16RunsUnscaled(GradScaler scaler, List<MixedPrecisionState> states)
    {
        if (scaler.IsEnabled || warnedAboutUnscaledFp16 || !states.Any(state => state.OwnLayersRunRealFp16InLayout()))
        {
            return;
        }

        warnedAboutUnscaledFp16 = true;
        Settings.Logger.LogWarning(
            "PrecisionDsl: {Model} runs float16 layers but its GradScaler is disabled, so gradients below fp16's range flush to zero. A scaler created before model.to(device) decided for the old device: create it after the move with CreateGradScaler(), or pass an enabled GradScaler.",
            owner.GetType().Name);
    }

    private bool IsRealFp16On(Module module) =>
        Settings.DtypeFor(PrecisionKind.Fp16, ShadowWeights.DeviceTypeOf(module)) == ScalarType.Float16;

    /// <summary>Whether the class, one of its base classes or one of their members carries <see cref="Fp16Attribute"/>.</summary>
    private static bool DeclaresFp16(Type? type)
    {
        const BindingFlags declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        for (; type is not null && type != typeof(Module); type = type.BaseType)
        {
            if (type.IsDefined(typeof(Fp16Attribute), inherit: false) ||
                type.GetMembers(declared).Any(member => member.IsDefined(typeof(Fp16Attribute), inherit: false)))
            {
                return true;
            }
        }

        return false;
    }

    private DeviceType DeviceTypeOfModel() => Slots.Count > 0 ? Slots[0].Master.device_type : ShadowWeights.DeviceTypeOf(owner);

    /// <summary>
    /// A hand-written loop that forgets <see cref="MoveGradientsToMasters(Module)"/> trains only the
    /// fp32 layers, silently. Checking one slot's gradient handles costs no synchronisation.
    /// </summary>
    private void WarnOnceIfGradientsWereNotMoved()
    {
        if (warnedAboutUnmovedGradients || Slots.Count == 0 || shadows.Flat!.EverMoved || !Slots[0].HasGradient)
        {
            return;
        }

        warnedAboutUnmovedGradients = true;
        Settings.Logger.LogWarning(
            "PrecisionDsl: {Model} ran backward but its half-layer gradients never reached the fp32 masters, so the optimizer does not see them. Use the generated TrainStep, or call MixedPrecisionState.MoveGradientsToMasters(model) after backward.",
            owner.GetType().Name);
    }
}
