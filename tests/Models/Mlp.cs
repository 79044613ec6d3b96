using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>A plain MLP in bf16: locals, a reassigned local, dropout, and a loss for the training step.</summary>
[Bf16]
public partial class Mlp : Module<Tensor, Tensor>
{
    private readonly Linear fc1 = Linear(32, 64);
    private readonly Linear fc2 = Linear(64, 64);
    private readonly Linear fc3 = Linear(64, 10);
    private readonly Dropout dropout = Dropout(0.1);

    public Mlp() : base(nameof(Mlp)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x)
    {
        var h = functional.relu(fc1.call(x));
        h = dropout.call(h);
        h = functional.gelu(fc2.call(h)) + h;
        return fc3.call(h);
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
}
