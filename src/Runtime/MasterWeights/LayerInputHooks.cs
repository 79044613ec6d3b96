using System;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl
{
    /// <summary>
    /// Forward hooks that give one layer the input dtype its precision needs while a generated forward of the
    /// owning model runs on the calling thread. The generator casts the inputs of the layers it calls itself;
    /// these hooks do it for the layers it cannot see: those inside containers (a norm gets fp32, a Linear its
    /// half dtype). They also run half Linear/Conv layers <em>widened</em> (see <see cref="HalfMatmulKernel"/>):
    /// such a layer holds fp32 copies of its half-rounded weights for the whole forward, the hooks round its
    /// input to half and widen it to fp32, and round its output back to half — a half layer's values with fp32
    /// accumulation, on fp32's kernel.
    /// </summary>
    /// <remarks>
    /// Hooks, not a replacement forward, so layers inside containers and user blocks are covered, and a layer
    /// called outside the generated forward (the fp32 reference path) is left alone. They keep no per-call state,
    /// so threads running generated forwards of one model at once do not disturb each other.
    /// </remarks>
    internal sealed class LayerInputHooks : IDisposable
    {
        private readonly ScalarType dtype;
        private readonly bool widened;
        private readonly Func<bool> inForward;
        private readonly nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover preHook;
        private readonly nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover? postHook;

        private LayerInputHooks(nn.Module<Tensor, Tensor> layer, ScalarType dtype, bool widened, Func<bool> inForward)
        {
            this.dtype = dtype;
            this.widened = widened;
            this.inForward = inForward;
            preHook = layer.register_forward_pre_hook(BeforeCall);
            postHook = widened ? layer.register_forward_hook(AfterWidenedCall) : null;
        }

        /// <summary>
        /// Hooks <paramref name="module"/> when it takes one tensor (every layer the catalog widens or casts
        /// takes one); null otherwise.
        /// </summary>
        /// <param name="module">The layer.</param>
        /// <param name="dtype">The dtype its floating input is cast to: its half dtype, or fp32.</param>
        /// <param name="widened">True when the layer holds fp32 copies of its half weights and computes widened.</param>
        /// <param name="inForward">True while a generated forward of the owning model runs on the calling thread.</param>
        public static LayerInputHooks? TryAttach(Module module, ScalarType dtype, bool widened, Func<bool> inForward) =>
            module is nn.Module<Tensor, Tensor> layer ? new LayerInputHooks(layer, dtype, widened, inForward) : null;

        public void Dispose()
        {
            preHook.remove();
            postHook?.remove();
        }

        private Tensor BeforeCall(nn.Module<Tensor, Tensor> layer, Tensor input)
        {
            if (!inForward() || !input.is_floating_point())
            {
                return null!;
            }

            if (!widened)
            {
                return input.dtype == dtype ? null! : input.to(dtype);
            }

            // Rounded to half first, so the values are those the native half layer would see.
            if (input.dtype == dtype)
            {
                return input.to(ScalarType.Float32);
            }

            using var rounded = input.to(dtype);
            return rounded.to(ScalarType.Float32);
        }

        private Tensor AfterWidenedCall(nn.Module<Tensor, Tensor> layer, Tensor input, Tensor output) =>
            inForward() ? output.to(dtype) : null!;
    }
}
