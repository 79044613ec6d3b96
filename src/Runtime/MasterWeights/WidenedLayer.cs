using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl
{
    /// <summary>
    /// Runs one half Linear/Conv layer widened (<see cref="HalfMatmulKernel.Widened"/>): while the
    /// layer is called inside a generated forward with a half input, forward hooks put fp32 copies of
    /// its half-rounded weights in, widen the input to fp32, and round the output back to half. The
    /// values are those of a half layer with fp32 accumulation; the kernel is fp32's.
    /// </summary>
    /// <remarks>
    /// Hooks, not a replacement forward, so layers inside containers are covered and a layer called
    /// without hooks (<c>layer.forward(x)</c>) still runs correctly on its half shadow, natively.
    /// </remarks>
    internal sealed class WidenedLayer : IDisposable
    {
        private readonly List<ShadowSlot> slots;
        private readonly ScalarType half;
        private readonly Func<bool> inForward;
        private readonly nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover preHook;
        private readonly nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover postHook;
        private bool widenedCall;

        private WidenedLayer(nn.Module<Tensor, Tensor> layer, List<ShadowSlot> slots, ScalarType half, Func<bool> inForward)
        {
            this.slots = slots;
            this.half = half;
            this.inForward = inForward;
            foreach (var slot in slots)
            {
                slot.Widen();
            }

            preHook = layer.register_forward_pre_hook(BeforeCall);
            postHook = layer.register_forward_hook(AfterCall);
        }

        /// <summary>Widens <paramref name="module"/> when it takes one tensor (Linear, Conv); null otherwise.</summary>
        /// <param name="module">The half layer.</param>
        /// <param name="slots">Its master/shadow slots; each gets a widened copy.</param>
        /// <param name="half">The dtype of its shadows.</param>
        /// <param name="inForward">True while the owning model's generated forward runs.</param>
        public static WidenedLayer? TryAttach(Module module, List<ShadowSlot> slots, ScalarType half, Func<bool> inForward) =>
            module is nn.Module<Tensor, Tensor> layer ? new WidenedLayer(layer, slots, half, inForward) : null;

        public void Dispose()
        {
            preHook.remove();
            postHook.remove();
        }

        private Tensor BeforeCall(nn.Module<Tensor, Tensor> layer, Tensor input)
        {
            // Outside the generated forward the layer holds its fp32 masters: nothing to do.
            widenedCall = inForward() && input.dtype == half;
            if (!widenedCall)
            {
                return null!;
            }

            foreach (var slot in slots)
            {
                slot.SwapInWidened();
            }

            return input.to(ScalarType.Float32);
        }

        private Tensor AfterCall(nn.Module<Tensor, Tensor> layer, Tensor input, Tensor output)
        {
            if (!widenedCall)
            {
                return null!;
            }

            widenedCall = false;
            foreach (var slot in slots)
            {
                slot.SwapIn();
            }

            return output.to(half);
        }
    }
}
