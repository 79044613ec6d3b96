using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>MobileNet-style depthwise-separable convolutions (grouped 3x3, then pointwise 1x1), each followed by BatchNorm and ReLU6.</summary>
[Bf16]
public partial class MobileNet : Module<Tensor, Tensor>
{
    private readonly Sequential body = Sequential(
        Conv2d(3, 8, 3, stride: 2, padding: 1), BatchNorm2d(8), ReLU6(),
        Conv2d(8, 8, 3, padding: 1, groups: 8), BatchNorm2d(8), ReLU6(),
        Conv2d(8, 20, 1), BatchNorm2d(20), ReLU6(),
        Conv2d(20, 20, 3, stride: 2, padding: 1, groups: 20), BatchNorm2d(20), ReLU6(),
        Conv2d(20, 24, 1), BatchNorm2d(24), ReLU6(),
        AdaptiveAvgPool2d(1), Flatten());
    private readonly Linear head = Linear(24, 10);

    public MobileNet() : base(nameof(MobileNet)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor images) => head.call(body.call(images));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
