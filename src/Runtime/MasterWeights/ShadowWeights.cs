using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// The half shadows of one precision model's layers and the forward scope that puts them in: built at the
/// first forward, refreshed from the fp32 masters only when the masters changed, swapped into the layers
/// while any generated forward of the model runs.
/// </summary>
/// <remarks>
/// <para><b>Concurrency.</b> Any number of threads may run generated forwards at once: each holds the read
/// side of <see cref="gate"/> for the body of its forward, so they run in parallel on the same shadows.
/// Entering and leaving are serialised by the upgradeable side (a few field writes); a refresh or a swap takes
/// the write side, so it waits until the forwards under way are done and never tears a tensor one of them
/// reads.</para>
/// <para><b>When shadows refresh.</b> Never merely because a forward starts: an in-place refresh bumps the
/// shadows' autograd version, which would break the backward of any earlier forward still waiting for it (a
/// model called twice before one backward, or another thread's training step). They refresh after the masters
/// changed: a step of the generated training members, the public <see cref="MixedPrecisionState.MoveGradientsToMasters(Module)"/>
/// (a hand-written loop is about to step), a checkpoint or state-dict load (<see cref="MastersChanged"/>), or
/// new masters (<c>to(device)</c>).</para>
/// </remarks>
internal sealed class ShadowWeights
{
    private readonly Module owner;
    private readonly PrecisionLayer[] layers;
    private readonly ReaderWriterLockSlim gate = new(LockRecursionPolicy.NoRecursion);
    private readonly ThreadLocal<int> depthOnThisThread = new();
    private List<ShadowSlot> slots = new();
    private List<LayerInputHooks> hooks = new();
    private bool built;
    private bool swappedIn;
    private int forwardsRunning;
    private long mastersGeneration;
    private long shadowsGeneration;
    private int syncRequiresGrad;

    public ShadowWeights(Module owner, PrecisionLayer[] layers)
    {
        this.owner = owner;
        this.layers = layers;
    }

    public IReadOnlyList<ShadowSlot> Slots => slots;

    /// <summary>The settings the model runs under, captured when its state was created (never re-read, so it never mixes modes).</summary>
    public PrecisionSettings Settings { get; } = PrecisionPolicy.Current;

    /// <summary>The model's flat master, shadow and gradient buffers; null until the first forward.</summary>
    public FlatBuffers? Flat { get; private set; }

    /// <summary>How many times the shadows were refreshed from changed masters (a test hook: unchanged masters cost no copy).</summary>
    internal int Refreshes { get; private set; }

    /// <summary>True while a generated forward of the model runs on the calling thread.</summary>
    public bool InForwardOnThisThread => depthOnThisThread.Value > 0;

    /// <summary>Called when a thread enters its outermost forward, once the shadows are ready (the unmoved-gradient warning).</summary>
    public Action? OnEnter { get; init; }

    /// <summary>
    /// The masters changed (or may have): the next forward refreshes the shadows first. With
    /// <paramref name="requiresGradMayHaveChanged"/> it also makes the shadows require a gradient exactly when their
    /// masters do (one flag per slot); the generated step's own call leaves that out, so a step reads no flag.
    /// </summary>
    public void MastersChanged(bool requiresGradMayHaveChanged = true)
    {
        if (requiresGradMayHaveChanged)
        {
            Interlocked.Exchange(ref syncRequiresGrad, 1);
        }

        Interlocked.Increment(ref mastersGeneration);
    }

    /// <summary>
    /// Enters a generated forward on this thread: the shadows, refreshed if the masters changed, are in the
    /// layers until the matching <see cref="Exit"/>. Nested calls on one thread share the outermost scope.
    /// </summary>
    public void Enter()
    {
        if (depthOnThisThread.Value > 0)
        {
            depthOnThisThread.Value++;
            return;
        }

        gate.EnterUpgradeableReadLock();
        try
        {
            if (!swappedIn || !built || shadowsGeneration != Interlocked.Read(ref mastersGeneration) || IsStale)
            {
                gate.EnterWriteLock();
                try
                {
                    Prepare();
                }
                finally
                {
                    gate.ExitWriteLock();
                }
            }

            OnEnter?.Invoke();
            gate.EnterReadLock();
            forwardsRunning++;
            depthOnThisThread.Value = 1;
        }
        finally
        {
            gate.ExitUpgradeableReadLock();
        }
    }

    /// <summary>Leaves a generated forward; the last forward of the model to leave puts the fp32 masters back.</summary>
    public void Exit()
    {
        if (depthOnThisThread.Value == 0)
        {
            return;
        }

        if (--depthOnThisThread.Value > 0)
        {
            return;
        }

        gate.ExitReadLock();
        gate.EnterUpgradeableReadLock();
        try
        {
            if (--forwardsRunning == 0 && swappedIn)
            {
                gate.EnterWriteLock();
                try
                {
                    SwapOutAll();
                }
                finally
                {
                    gate.ExitWriteLock();
                }
            }
        }
        finally
        {
            gate.ExitUpgradeableReadLock();
        }
    }

    /// <summary>
    /// Holds off every generated forward of the model (waiting for those under way) until the returned lock is
    /// disposed: an optimizer step changes the fp32 masters in place, and the fp32 layers of a forward on another
    /// thread read them directly.
    /// </summary>
    public IDisposable BlockForwards()
    {
        gate.EnterWriteLock();
        return new WriteLockRelease(gate);
    }

    /// <summary>Before a generated backward: the shadows' gradients become views of the fp32 master gradients (<see cref="FlatBuffers.AttachShadowGradients"/>).</summary>
    public void AttachShadowGradients() => Flat?.AttachShadowGradients();

    /// <summary>After that backward: the shadows drop those views.</summary>
    public void ReleaseShadowGradients() => Flat?.ReleaseShadowGradients();

    /// <summary>After a hand-written backward: the shadows' own gradients are added into the masters' and dropped.</summary>
    public void MoveGradientsToMasters() => Flat?.MoveGradients();

    // The model no longer holds the parameters the layout was built on (e.g. after model.to(device)).
    private bool IsStale => slots.Any(s => s.IsStale) || Flat?.IsStale == true;

    /// <summary>Under the write lock: builds the shadows if needed, refreshes them if the masters changed, swaps them in.</summary>
    private void Prepare()
    {
        var generation = Interlocked.Read(ref mastersGeneration);
        if (!built || IsStale)
        {
            SwapOutAll();
            Build();
        }
        else if (shadowsGeneration != generation)
        {
            Flat!.Refresh();
            Refreshes++;
        }

        shadowsGeneration = generation;
        if (Interlocked.Exchange(ref syncRequiresGrad, 0) == 1)
        {
            Flat!.SyncRequiresGrad();
        }

        if (!swappedIn)
        {
            SwapInAll();
        }
    }

    private void SwapInAll()
    {
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

        swappedIn = true;
    }

    private void SwapOutAll()
    {
        if (!swappedIn)
        {
            return;
        }

        foreach (var slot in slots)
        {
            slot.SwapOut();
        }

        swappedIn = false;
    }

    /// <summary>Builds the shadows (fresh copies of the masters) and hooks, replacing any earlier ones.</summary>
    private void Build()
    {
        foreach (var hook in hooks)
        {
            hook.Dispose();
        }

        var builtSlots = new List<ShadowSlot>();
        var builtHooks = new List<LayerInputHooks>();
        foreach (var layer in layers)
        {
            // A layer member may be null when the model creates it only under some configuration.
            if (layer.Kind != PrecisionKind.Fp32 && layer.Module is not null)
            {
                AddLayer(layer.Name, layer.Module, layer.Kind, builtSlots, builtHooks, insideContainer: false);
            }
        }

        WidenLayersTiedToWidenedOnes(builtSlots, builtHooks);
        slots = builtSlots;
        hooks = builtHooks;
        Flat?.Dispose();
        Flat = FlatBuffers.Build(slots, OwnParameters());
        built = true;
    }

    /// <summary>
    /// A weight tied between a widened layer and a natively-half one (an Embedding, in no kernel family, sharing the
    /// output head's weight when the CPU widens Linear and rounds every half op) has one flat segment, so one copy to
    /// compute with: the native layer computes on the widened copy too, through hooks that round its output to half
    /// as its own kernel would (an embedding lookup of half-rounded rows: the same values).
    /// </summary>
    private void WidenLayersTiedToWidenedOnes(List<ShadowSlot> builtSlots, List<LayerInputHooks> builtHooks)
    {
        var widenedMasters = builtSlots.Where(s => s.Widened is not null).Select(s => TensorAlias.Of(s.Master)).ToHashSet();
        var tiedLayers = builtSlots.Where(s => s.Widened is null && widenedMasters.Contains(TensorAlias.Of(s.Master)))
            .Select(s => s.Module).Distinct().ToList();
        foreach (var layer in tiedLayers)
        {
            var layerSlots = builtSlots.Where(s => ReferenceEquals(s.Module, layer)).ToList();
            // A layer that cannot be hooked keeps its half shadow, and FlatBuffers rejects the tie.
            if (LayerInputHooks.TryAttach(layer, layerSlots[0].Shadow.dtype, widened: true, () => InForwardOnThisThread) is not { } widenedHooks)
            {
                continue;
            }

            builtHooks.RemoveAll(hook =>
            {
                var replaced = ReferenceEquals(hook.Layer, layer);
                if (replaced)
                {
                    hook.Dispose();
                }

                return replaced;
            });
            builtHooks.Add(widenedHooks);
            layerSlots.ForEach(slot => slot.Widen());
        }
    }

    /// <summary>
    /// The owner's parameters and its slots' masters (a layer the owner did not register still needs its shadows
    /// refreshed), less those of nested precision models (they flatten their own).
    /// </summary>
    private IEnumerable<Parameter> OwnParameters()
    {
        var nested = owner.modules().Where(m => LayerCatalog.IsPrecisionModel(m.GetType()))
            .SelectMany(m => m.parameters()).Select(p => p.Handle).ToHashSet();
        return owner.parameters().Concat(slots.Select(s => s.Master)).Where(p => !nested.Contains(p.Handle));
    }

    /// <summary>
    /// Gives <paramref name="module"/> its half shadows and hooks. Inside a container (and the user blocks
    /// in it) every layer is planned on its own: half-capable layers run in half, norms and other layers
    /// with weights of their own get fp32 input, the rest runs in what it receives.
    /// </summary>
    private void AddLayer(string name, Module module, PrecisionKind kind, List<ShadowSlot> builtSlots, List<LayerInputHooks> builtHooks, bool insideContainer)
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
                AddLayer($"{name}.{childName}", child, kind, builtSlots, builtHooks, insideContainer: true);
            }

            return;
        }

        if (insideContainer && !LayerCatalog.IsHalfCapable(type))
        {
            if (LayerCatalog.TakesFp32Input(module)
                && LayerInputHooks.TryAttach(module, ScalarType.Float32, widened: false, () => InForwardOnThisThread) is { } fp32Input)
            {
                builtHooks.Add(fp32Input);
            }

            return;
        }

        var deviceType = DeviceTypeOf(module);
        var dtype = Settings.DtypeFor(kind, deviceType);
        var layerSlots = LayerCatalog.LacksWeightAccess(type) ? null : ShadowSlot.TryCreate(module, dtype);
        if (layerSlots is null)
        {
            Settings.Logger.LogWarning(
                "PrecisionDsl: {Layer} ({Type}) keeps its weights in native code without a setter; it runs in fp32.",
                name, type.Name);
            return;
        }

        builtSlots.AddRange(layerSlots);
        if (Settings.KeepsActivationsInFp32(dtype, deviceType))
        {
            if (PrecisionPolicy.FirstTimeFor(Settings.Logger, nameof(PrecisionSettings.CpuExcessPrecision)))
            {
                Settings.Logger.LogInformation(
                    "PrecisionDsl: this CPU's {Dtype} Linear kernels run widened, so {Dtype} layers compute in fp32 on their {Dtype}-rounded weights and activations stay fp32 (excess precision, fp32 speed); {Variable}=off rounds after every half op instead.",
                    dtype, dtype, dtype, PrecisionPolicy.CpuExcessPrecisionEnvironmentVariable);
            }

            foreach (var slot in layerSlots)
            {
                slot.Widen();
            }

            if (insideContainer && LayerInputHooks.TryAttach(module, ScalarType.Float32, widened: false, () => InForwardOnThisThread) is { } fp32Input)
            {
                builtHooks.Add(fp32Input);
            }

            return;
        }

        var widened = LayerCatalog.FamilyOf(type) is { } family && Settings.Widens(family, dtype, deviceType);
        if ((widened || insideContainer)
            && LayerInputHooks.TryAttach(module, dtype, widened, () => InForwardOnThisThread) is { } halfInput)
        {
            builtHooks.Add(halfInput);
            if (widened)
            {
                // Only with the hook that widens the input: the layer then holds fp32 copies for the whole forward.
                foreach (var slot in layerSlots)
                {
                    slot.Widen();
                }
            }
        }
    }

    private sealed class WriteLockRelease(ReaderWriterLockSlim gate) : IDisposable
    {
        public void Dispose() => gate.ExitWriteLock();
    }

    internal static DeviceType DeviceTypeOf(Module module) =>
        module.parameters().FirstOrDefault()?.device_type ?? PrecisionPolicy.DefaultDevice.type;
}
