using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Consumer;

[Bf16]
public partial class TwoLayer : Module<Tensor, Tensor>
{
    private readonly Linear fc1 = Linear(16, 32);
    private readonly Linear fc2 = Linear(32, 4);

    public TwoLayer() : base(nameof(TwoLayer)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x) => fc2.call(functional.relu(fc1.call(x)));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
}

// The planted mistake: fp16 layers trained without a [LossScaled] loss.
[Fp16]
public partial class Unscaled : Module<Tensor, Tensor>
{
    private readonly Linear fc = Linear(4, 4);

    public Unscaled() : base(nameof(Unscaled)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x) => fc.call(x);
}
