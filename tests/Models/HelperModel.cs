using System;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>
/// Generic helper methods, a Sequential, a lambda calling a layer, a helper method calling a layer, a loop over a ModuleList, a conditional, a conditional
/// expression and promote-list ops whose widest input is known only at run time inside the forward body.
/// </summary>
[Bf16]
public partial class HelperModel : Module<Tensor, Tensor>
{
    private readonly Sequential stem = Sequential(Linear(12, 12), ReLU(), Linear(12, 12));
    private readonly Linear input = Linear(12, 24);
    private readonly Linear mixer = Linear(24, 24);
    private readonly ModuleList<Linear> blocks = new(Linear(24, 24), Linear(24, 24));
    private readonly Linear refine = Linear(24, 24);
    private readonly Linear output = Linear(24, 3);

    public HelperModel() : base(nameof(HelperModel)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x)
    {
        var h = Identity(input.call(stem.call(x)));
        h = ApplyTimes(h, 2, t => functional.gelu(mixer.call(t)));
        foreach (var block in blocks)
        {
            h = h + functional.relu(block.call(h));
        }

        if (h.shape[0] > 1)
        {
            h = h * 0.5;
        }

        h = Refine(h);
        var pooled = h.shape[1] > 0 ? h : torch.zeros_like(h);
        pooled = torch.stack(new[] { pooled, h }, 0).mean(new long[] { 0 });
        var positive = pooled > 0;
        pooled = torch.where(positive, pooled, h);
        return output.call(pooled);
    }

    // Calls a layer itself, so the generated forward calls a rewritten copy of it.
    private Tensor Refine(Tensor h)
    {
        var refined = refine.call(h);
        return functional.layer_norm(refined + h, new long[] { 24 });
    }

    private static T Identity<T>(T value) => value;

    private static T ApplyTimes<T>(T value, int times, Func<T, T> step)
    {
        for (var i = 0; i < times; i++)
        {
            value = step(value);
        }

        return value;
    }
}
