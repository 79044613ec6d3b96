using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>VGG-style: Conv/BatchNorm/ReLU/MaxPool stages in a Sequential (out channels not multiples of 16), an MLP classifier.</summary>
[Bf16]
public partial class VggNet : Module<Tensor, Tensor>
{
    private readonly Sequential features = Sequential(
        Conv2d(3, 8, 3, padding: 1), BatchNorm2d(8), ReLU(), MaxPool2d(2),
        Conv2d(8, 12, 3, padding: 1), BatchNorm2d(12), ReLU(), MaxPool2d(2));
    private readonly Sequential classifier = Sequential(Linear(12 * 2 * 2, 24), ReLU(), Dropout(0.5), Linear(24, 10));

    public VggNet() : base(nameof(VggNet)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor images) => classifier.call(features.call(images).flatten(1));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
