using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>The SPEC's example: fp16 default, a LayerNorm kept fp32 by attribute, an expression-bodied forward.</summary>
[Fp16]
public partial class Classifier : Module<Tensor, Tensor>
{
    private readonly Linear fc1 = Linear(784, 256);
    [KeepFp32] private readonly LayerNorm norm = LayerNorm(256);
    private readonly Linear fc2 = Linear(256, 10);

    public Classifier() : base(nameof(Classifier)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x) => fc2.call(functional.relu(norm.call(fc1.call(x))));

    [LossScaled(InitialScale = 1024, GrowthInterval = 100)]
    private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
}
