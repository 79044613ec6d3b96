using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl
{
    /// <summary>
    /// Forward hooks that give one layer the input dtype its precision needs while the owning model's
    /// generated forward runs. The generator casts the inputs of the layers it calls itself; these hooks
    /// do it for the layers it cannot see: those inside containers (a norm gets fp32, a Linear its half
    /// dtype), and they run half Linear/Conv layers <em>widened</em> (<see cref="HalfMatmulKernel.Widened"/>):
    /// fp32 copies of the half-rounded weights put in, the half-rounded input widened to fp32, the output
    /// rounded back to half — a half layer's values with fp32 accumulation, on fp32's kernel.
    /// </summary>
    /// <remarks>
    /// Hooks, not a replacement forward, so layers inside containers and user blocks are covered, and a
    /// layer called outside the generated forward (the fp32 reference path) is left alone.
    /// </remarks>
    internal sealed class LayerInputHooks : IDisposable
    {
        private readonly ScalarType inputDtype;
        private readonly List<ShadowSlot>? widenedSlots;
        private readonly Func<bool> inForward;
        private readonly nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover preHook;
        private readonly nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover? postHook;
        private bool widenedCall;

        private LayerInputHooks(nn.Module<Tensor, Tensor> layer, ScalarType inputDtype, List<ShadowSlot>? widenedSlots, Func<bool> inForward)
        {
            this.inputDtype = inputDtype;
            this.widenedSlots = widenedSlots;
            this.inForward = inForward;
            if (widenedSlots is not null)
            {
                foreach (var slot in widenedSlots)
                {
                    slot.Widen();
                }

                postHook = layer.register_forward_hook(AfterWidenedCall);
            }

            preHook = layer.register_forward_pre_hook(BeforeCall);
        }

        /// <summary>
        /// Hooks <paramref name="module"/> when it takes one tensor (every layer the catalog widens or casts
        /// takes one); null otherwise.
        /// </summary>
        /// <param name="module">The layer.</param>
        /// <param name="inputDtype">The dtype its floating input is cast to: its half dtype, or fp32.</param>
        /// <param name="widenedSlots">Its master/shadow slots when it runs widened (each gets an fp32 copy); else null.</param>
        /// <param name="inForward">True while the owning model's generated forward runs.</param>
        public static LayerInputHooks? TryAttach(Module module, ScalarType inputDtype, List<ShadowSlot>? widenedSlots, Func<bool> inForward) =>
            module is nn.Module<Tensor, Tensor> layer ? new LayerInputHooks(layer, inputDtype, widenedSlots, inForward) : null;

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

            if (widenedSlots is null)
            {
                return input.dtype == inputDtype ? null! : input.to(inputDtype);
            }

            widenedCall = true;
            foreach (var slot in widenedSlots)
            {
                slot.SwapInWidened();
            }

            // Rounded to half first, so the values are those the native half layer would see.
            if (input.dtype == inputDtype)
            {
                return input.to(ScalarType.Float32);
            }

            using var rounded = input.to(inputDtype);
            return rounded.to(ScalarType.Float32);
        }

        private Tensor AfterWidenedCall(nn.Module<Tensor, Tensor> layer, Tensor input, Tensor output)
        {
            if (!widenedCall)
            {
                return null!;
            }

            widenedCall = false;
            foreach (var slot in widenedSlots!)
            {
                slot.SwapIn();
            }

            return output.to(inputDtype);
        }
    }
}
