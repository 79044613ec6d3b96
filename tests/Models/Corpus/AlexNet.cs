using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>AlexNet-style: strided convolutions with LocalResponseNorm, adaptive pooling, a dropout classifier.</summary>
[Bf16]
public partial class AlexNet : Module<Tensor, Tensor>
{
    private readonly Sequential features = Sequential(
        Conv2d(3, 6, 5, stride: 2, padding: 2), ReLU(), LocalResponseNorm(3), MaxPool2d(2),
        Conv2d(6, 10, 3, padding: 1), ReLU(), LocalResponseNorm(3),
        Conv2d(10, 10, 3, padding: 1), ReLU(), AdaptiveAvgPool2d(2));
    private readonly Sequential classifier = Sequential(
        Dropout(0.5), Linear(10 * 2 * 2, 32), ReLU(), Dropout(0.5), Linear(32, 10));

    public AlexNet() : base(nameof(AlexNet)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor images) => classifier.call(torch.flatten(features.call(images), 1));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
