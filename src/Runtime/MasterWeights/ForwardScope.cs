using System;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// The span of one generated <c>forward</c> during which half layers run on their half shadows.
/// Disposing it puts the fp32 masters back; the generated code holds it in a <c>using</c>, so the
/// masters return even when the forward throws. While it is open, the model's <see cref="MixedPrecisionState.Settings"/>
/// are <see cref="PrecisionPolicy.Current"/> on this thread, so the ops the forward routes through <see cref="CheckedOps"/>
/// (and nested precision models created in it) run under the same settings as its layers.
/// </summary>
public readonly struct ForwardScope : IDisposable
{
    private readonly MixedPrecisionState? state;
    private readonly DeviceType deviceType;
    private readonly PrecisionSettings? outerSettings;

    internal ForwardScope(MixedPrecisionState state, DeviceType deviceType)
    {
        this.state = state;
        this.deviceType = deviceType;
        outerSettings = PrecisionPolicy.EnterForward(state.Settings);
    }

    /// <summary>
    /// The dtype <see cref="PrecisionKind.Fp16"/> activations have on the model's device: Float16, or BFloat16 where the
    /// policy maps it (CPU), or Float32 where bf16 computes with excess precision (<see cref="PrecisionSettings.CpuExcessPrecision"/>).
    /// </summary>
    public ScalarType Fp16 => Activation(PrecisionKind.Fp16);

    /// <summary>The dtype <see cref="PrecisionKind.Bf16"/> activations have: BFloat16, or Float32 under excess precision.</summary>
    public ScalarType Bf16 => Activation(PrecisionKind.Bf16);

    private ScalarType Activation(PrecisionKind kind) =>
        state?.ActivationDtype(kind, deviceType) ?? PrecisionPolicy.Current.ActivationDtypeFor(kind, deviceType);

    /// <summary>Swaps the fp32 masters back into the layers (the outermost scope of a nested forward does it).</summary>
    public void Dispose()
    {
        if (state is not null)
        {
            PrecisionPolicy.ExitForward(outerSettings);
            state.ExitForward();
        }
    }
}
