using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl
{
    /// <summary>
    /// The run-time side of one precision model: fp32 master weights with persistent half shadows,
    /// the forward scope that swaps them in, and the loss-scaled training step. The generator creates
    /// one per model instance; user code reaches it through the model's generated members.
    /// </summary>
    /// <remarks>
    /// <para><b>Optimizer.</b> Build the optimizer on <c>model.parameters()</c>: those are the fp32
    /// masters (the shadows are never registered). The optimizer updates the masters; the next
    /// forward refreshes the shadows from them in place.</para>
    /// <para><b>Training step.</b> The generated <c>TrainStep(x, target, optimizer, scaler)</c> runs
    /// forward, the fp32 loss, the scaled backward, moves the half gradients into the masters,
    /// unscales, clips when <c>maxGradNorm</c> is given, steps or skips on inf/NaN, updates the scale
    /// and zeroes the gradients in place.</para>
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
        private static readonly ConcurrentDictionary<Type, FieldInfo[]> StateFieldsByType = new();

        private readonly Module owner;
        private readonly PrecisionLayer[] layers;
        private readonly LossScaleOptions lossScale;
        private List<ShadowSlot> slots = new();
        private List<LayerInputHooks> hooks = new();
        private bool slotsBuilt;
        private bool warnedAboutUnmovedGradients;
        private int forwardDepth;
        private double pendingLoss;

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
        }

        /// <summary>The master/shadow pairs (for tests and diagnostics).</summary>
        internal IReadOnlyList<ShadowSlot> Slots => slots;

        /// <summary>True while a generated forward of this model runs (its half shadows are in the layers).</summary>
        internal bool InForward => forwardDepth > 0;

        /// <summary>
        /// Refreshes every half shadow from its fp32 master in place and swaps the shadows into the
        /// layers; disposing the returned scope swaps the masters back. Nested calls (a forward calling
        /// the model again) share the outermost scope.
        /// </summary>
        public ForwardScope EnterForward()
        {
            if (forwardDepth == 0)
            {
                EnsureSlots();
                WarnOnceIfGradientsWereNotMoved();
                foreach (var slot in slots)
                {
                    slot.Refresh();
                }

                var swapped = 0;
                try
                {
                    for (; swapped < slots.Count; swapped++)
                    {
                        slots[swapped].SwapIn();
                    }
                }
                catch
                {
                    for (var i = 0; i < swapped; i++)
                    {
                        slots[i].SwapOut();
                    }

                    throw;
                }
            }

            forwardDepth++;
            return new ForwardScope(this, DeviceTypeOfModel());
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
            var loss = BackwardAndMoveGradients(computeLoss, scaler, 1.0);
            return ApplyGradientsCore(optimizer, scaler, maxGradNorm, loss);
        }

        /// <summary>
        /// One micro-batch of gradient accumulation: computes the loss, back-propagates
        /// <c>scale × lossWeight × loss</c> and adds the gradients to the masters' persistent fp32
        /// gradients. Follow the micro-batches of an effective batch with one <see cref="ApplyGradients"/>.
        /// </summary>
        /// <returns>This micro-batch's loss (unweighted, unscaled).</returns>
        public double AccumulateGradients(Func<Tensor> computeLoss, GradScaler scaler, double lossWeight)
        {
            ArgumentNullException.ThrowIfNull(computeLoss);
            ArgumentNullException.ThrowIfNull(scaler);
            if (!double.IsFinite(lossWeight))
            {
                throw new ArgumentOutOfRangeException(nameof(lossWeight), lossWeight, "Must be finite.");
            }

            using var scope = NewDisposeScope();
            var loss = BackwardAndMoveGradients(computeLoss, scaler, lossWeight).item<float>();
            pendingLoss += lossWeight * loss;
            return loss;
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
            return ApplyGradientsCore(optimizer, scaler, maxGradNorm, null);
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

        private TrainStepResult ApplyGradientsCore(Optimizer optimizer, GradScaler scaler, double? maxGradNorm, Tensor? unreadLoss)
        {
            RejectShadowsIn(optimizer);
            var accumulatedLoss = pendingLoss;
            bool stepped;
            double loss;
            try
            {
                if (maxGradNorm is { } maxNorm)
                {
                    scaler.Unscale(optimizer);
                    ClipGradientNorm(optimizer.parameters(), maxNorm);
                }

                stepped = scaler.StepReadingAlong(optimizer, unreadLoss, out loss);
                scaler.Update();
            }
            finally
            {
                // Also when the scaler throws (e.g. a stalled scale): the next step starts clean.
                ZeroGradients();
                pendingLoss = 0;
            }

            return new TrainStepResult(accumulatedLoss + (unreadLoss is null ? 0 : loss), stepped, scaler.CurrentScale);
        }

        /// <summary>
        /// Runs <paramref name="computeLoss"/>, back-propagates the scaled, weighted loss and moves the
        /// half gradients into the masters. Returns the unweighted fp32 loss, still on the device.
        /// </summary>
        private Tensor BackwardAndMoveGradients(Func<Tensor> computeLoss, GradScaler scaler, double lossWeight)
        {
            Tensor loss;
            using (var scope = NewDisposeScope())
            {
                var value = Precision.Cast(computeLoss(), ScalarType.Float32);
                var weighted = lossWeight == 1.0 ? value : value * lossWeight;
                scaler.Scale(weighted).backward();
                loss = value.detach().MoveToOuterDisposeScope();
            }

            MoveGradientsToMasters(owner);
            return loss;
        }

        /// <summary>
        /// A scaler configured from the model's <c>[LossScaled]</c> options; disabled (pass-through)
        /// unless some layer of this model runs in real float16 on its device.
        /// </summary>
        public GradScaler CreateGradScaler() => new(
            lossScale.InitialScale, lossScale.GrowthFactor, lossScale.BackoffFactor, lossScale.GrowthInterval,
            lossScale.Hysteresis, lossScale.MinScale, lossScale.MaxScale, enabled: RunsRealFp16());

        /// <summary>
        /// Moves the half gradients of this model's shadows into the fp32 masters' gradients. Needed
        /// only in a hand-written loop, after each <c>backward</c>.
        /// </summary>
        public void MoveGradientsToMasters()
        {
            foreach (var slot in slots)
            {
                slot.MoveGradientToMaster();
            }
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

        /// <summary>Instance fields of <paramref name="type"/> (and its bases) that hold a state: how a nested precision model is recognised.</summary>
        internal static FieldInfo[] StateFieldsOf(Type type) => StateFieldsByType.GetOrAdd(type, static t =>
        {
            var fields = new List<FieldInfo>();
            for (var current = t; current is not null && current != typeof(object); current = current.BaseType)
            {
                fields.AddRange(current
                    .GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                    .Where(f => f.FieldType == typeof(MixedPrecisionState)));
            }

            return fields.ToArray();
        });

        internal void ExitForward()
        {
            if (forwardDepth == 0)
            {
                return;
            }

            if (--forwardDepth == 0)
            {
                foreach (var slot in slots)
                {
                    slot.SwapOut();
                }
            }
        }

        /// <summary>The states of <paramref name="model"/> and of every precision model inside it that has run a forward.</summary>
        private static IEnumerable<MixedPrecisionState> StatesWithin(Module model)
        {
            foreach (var module in model.modules().Prepend(model))
            {
                foreach (var field in StateFieldsOf(module.GetType()))
                {
                    if (field.GetValue(module) is MixedPrecisionState state)
                    {
                        yield return state;
                    }
                }
            }
        }

        /// <summary>
        /// Clips the gradients' global L2 norm on the device, as <c>torch.nn.utils.clip_grad_norm_</c>
        /// does, without reading the norm back to the host (the step's one synchronisation is the
        /// scaler's overflow check).
        /// </summary>
        private static void ClipGradientNorm(IEnumerable<Tensor> parameters, double maxNorm)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var gradients = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
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

        private void ZeroGradients()
        {
            using var noGrad = no_grad();
            foreach (var parameter in owner.parameters())
            {
                using var gradient = parameter.grad;
                gradient?.zero_();
            }
        }

        private void RejectShadowsIn(Optimizer optimizer)
        {
            var shadows = StatesWithin(owner).SelectMany(s => s.slots)
                .SelectMany(s => s.Widened is null ? new[] { s.Shadow.Handle } : new[] { s.Shadow.Handle, s.Widened.Handle })
                .ToHashSet();
            if (shadows.Count > 0 && optimizer.parameters().Any(p => shadows.Contains(p.Handle)))
            {
                throw new InvalidOperationException(
                    "The optimizer holds half shadow weights; build it on model.parameters() (the fp32 masters) outside forward.");
            }
        }

        private bool RunsRealFp16() => layers.Any(l =>
            l.Kind == PrecisionKind.Fp16 && l.Module is not null &&
            PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, DeviceTypeOf(l.Module)) == ScalarType.Float16);

        private DeviceType DeviceTypeOfModel() => slots.Count > 0 ? slots[0].Master.device_type : DeviceTypeOf(owner);

        private static DeviceType DeviceTypeOf(Module module) =>
            module.parameters().FirstOrDefault()?.device_type ?? PrecisionPolicy.DefaultDevice.type;

        /// <summary>
        /// A hand-written loop that forgets <see cref="MoveGradientsToMasters(Module)"/> trains only the
        /// fp32 layers, silently. Checking one slot's gradient handles costs no synchronisation.
        /// </summary>
        private void WarnOnceIfGradientsWereNotMoved()
        {
            if (warnedAboutUnmovedGradients || slots.Count == 0 || !slots[0].HasNeverMovedGradient)
            {
                return;
            }

            warnedAboutUnmovedGradients = true;
            PrecisionPolicy.Logger.LogWarning(
                "PrecisionDsl: {Model} ran backward but its half-layer gradients never reached the fp32 masters, so the optimizer does not see them. Use the generated TrainStep, or call MixedPrecisionState.MoveGradientsToMasters(model) after backward.",
                owner.GetType().Name);
        }

        /// <summary>Builds the shadows once, and again for layers whose masters were replaced (e.g. by <c>to(device)</c>).</summary>
        private void EnsureSlots()
        {
            if (slotsBuilt && !slots.Any(s => s.IsStale))
            {
                return;
            }

            foreach (var hook in hooks)
            {
                hook.Dispose();
            }

            var built = new List<ShadowSlot>();
            var hooksBuilt = new List<LayerInputHooks>();
            foreach (var layer in layers)
            {
                // A layer member may be null when the model creates it only under some configuration.
                if (layer.Kind != PrecisionKind.Fp32 && layer.Module is not null)
                {
                    AddLayer(layer.Name, layer.Module, layer.Kind, built, hooksBuilt, insideContainer: false);
                }
            }

            slots = built;
            hooks = hooksBuilt;
            slotsBuilt = true;
        }

        /// <summary>
        /// Gives <paramref name="module"/> its half shadows and hooks. Inside a container (and the user blocks
        /// in it) every layer is planned on its own: half-capable layers run in half, norms and other layers
        /// with weights of their own get fp32 input, the rest runs in what it receives.
        /// </summary>
        private void AddLayer(string name, Module module, PrecisionKind kind, List<ShadowSlot> built, List<LayerInputHooks> hooksBuilt, bool insideContainer)
        {
            var type = module.GetType();
            if (LayerCatalog.IsPrecisionModel(type))
            {
                return; // a nested precision model swaps its own shadows in its own forward
            }

            if (LayerCatalog.IsContainer(type) || (insideContainer && LayerCatalog.IsUserBlock(type)))
            {
                foreach (var (childName, child) in module.named_children())
                {
                    AddLayer($"{name}.{childName}", child, kind, built, hooksBuilt, insideContainer: true);
                }

                return;
            }

            if (insideContainer && !LayerCatalog.IsHalfCapable(type))
            {
                if (LayerCatalog.TakesFp32Input(module)
                    && LayerInputHooks.TryAttach(module, ScalarType.Float32, widenedSlots: null, () => InForward) is { } fp32Input)
                {
                    hooksBuilt.Add(fp32Input);
                }

                return;
            }

            var deviceType = DeviceTypeOf(module);
            var dtype = PrecisionPolicy.DtypeFor(kind, deviceType);
            var layerSlots = LayerCatalog.LacksWeightAccess(type) ? null : ShadowSlot.TryCreate(module, dtype);
            if (layerSlots is null)
            {
                PrecisionPolicy.Logger.LogWarning(
                    "PrecisionDsl: {Layer} ({Type}) keeps its weights in native code without a setter; it runs in fp32.",
                    name, type.Name);
                return;
            }

            built.AddRange(layerSlots);
            var widened = LayerCatalog.FamilyOf(type) is { } family && PrecisionPolicy.Widens(family, dtype, deviceType);
            if ((widened || insideContainer)
                && LayerInputHooks.TryAttach(module, dtype, widened ? layerSlots : null, () => InForward) is { } halfInput)
            {
                hooksBuilt.Add(halfInput);
            }
        }
    }
}
