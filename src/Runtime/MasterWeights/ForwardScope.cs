using System;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl
{
    /// <summary>
    /// The span of one generated <c>forward</c> during which half layers run on their half shadows.
    /// Disposing it puts the fp32 masters back; the generated code holds it in a <c>using</c>, so the
    /// masters return even when the forward throws.
    /// </summary>
    public readonly struct ForwardScope : IDisposable
    {
        private readonly MixedPrecisionState? state;
        private readonly DeviceType deviceType;

        internal ForwardScope(MixedPrecisionState state, DeviceType deviceType)
        {
            this.state = state;
            this.deviceType = deviceType;
        }

        /// <summary>The dtype <see cref="PrecisionKind.Fp16"/> runs in on the model's device: Float16, or BFloat16 where the policy maps it (CPU).</summary>
        public ScalarType Fp16 => PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, deviceType);

        /// <summary>The dtype <see cref="PrecisionKind.Bf16"/> runs in: BFloat16.</summary>
        public ScalarType Bf16 => PrecisionPolicy.DtypeFor(PrecisionKind.Bf16, deviceType);

        /// <summary>Swaps the fp32 masters back into the layers (the outermost scope of a nested forward does it).</summary>
        public void Dispose() => state?.ExitForward();
    }
}
