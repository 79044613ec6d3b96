using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrecisionDsl
{
    /// <summary>
    /// The output end of a widened <c>Linear</c>: rounds the fp32 product to half and, in backward, adds
    /// the layer's weight and bias gradients straight into the fp32 masters' <c>.grad</c> (<c>addmm_</c> in
    /// place). The widened weight copies do not require grad, so autograd keeps no second fp32 gradient
    /// buffer per weight and nothing has to be moved after backward.
    /// </summary>
    /// <remarks>
    /// Inputs: the fp32 output, the fp32 input the layer saw (saved for the weight gradient), an anchor leaf
    /// that requires grad (so the node exists even when nothing upstream needs a gradient, e.g. the first
    /// layer), the half dtype and the <see cref="LinearMasters"/>. Only the output gets a gradient back.
    /// </remarks>
    internal sealed class WidenedLinearOutput : autograd.SingleTensorFunction<WidenedLinearOutput>
    {
        public override string Name => nameof(WidenedLinearOutput);

        public static Tensor Apply(Tensor output, Tensor input, Tensor anchor, ScalarType half, LinearMasters masters) =>
            apply(output, input, anchor, half, masters);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            ctx.save_for_backward(new List<Tensor> { (Tensor)vars[1] });
            ctx.save_data(nameof(LinearMasters), vars[4]);
            return ((Tensor)vars[0]).to((ScalarType)vars[3]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradient)
        {
            var wide = gradient.to(ScalarType.Float32);
            var saved = ctx.get_saved_variables();
            using (var input = saved[0])
            {
                ((LinearMasters)ctx.get_data(nameof(LinearMasters))).AddGradients(wide, input);
            }

            return new List<Tensor> { wide, null!, null!, null!, null! };
        }
    }

    /// <summary>The fp32 master weight and bias of one widened <c>Linear</c>, and how their gradients accumulate.</summary>
    internal sealed class LinearMasters(Parameter weight, Parameter? bias)
    {
        public static LinearMasters For(Linear layer, IReadOnlyList<ShadowSlot> slots)
        {
            Parameter? weight = null, bias = null;
            foreach (var slot in slots)
            {
                if (slot.Name == "weight") weight = slot.Master;
                else if (slot.Name == "bias") bias = slot.Master;
            }

            return new LinearMasters(weight ?? layer.weight!, bias);
        }

        /// <summary>Adds <c>outputGradientᵀ · input</c> to the weight's gradient and the summed output gradient to the bias's.</summary>
        public void AddGradients(Tensor outputGradient, Tensor input)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var rows = outputGradient.reshape(-1, outputGradient.shape[^1]);
            if (weight.requires_grad)
            {
                var flatInput = input.reshape(-1, input.shape[^1]);
                using var gradient = weight.grad;
                if (gradient is null)
                {
                    weight.grad = rows.t().mm(flatInput);
                }
                else
                {
                    gradient.addmm_(rows.t(), flatInput);
                }
            }

            if (bias is { requires_grad: true })
            {
                using var gradient = bias.grad;
                if (gradient is null)
                {
                    bias.grad = rows.sum(dim: 0);
                }
                else
                {
                    gradient.add_(rows.sum(dim: 0));
                }
            }
        }
    }
}
