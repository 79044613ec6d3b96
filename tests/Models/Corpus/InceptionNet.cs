using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>An Inception-style module: parallel 1x1, 3x3 and 5x5 branches and a pooling branch, concatenated on channels.</summary>
[Fp16]
public partial class InceptionNet : Module<Tensor, Tensor>
{
    private readonly Conv2d branch1 = Conv2d(3, 4, 1);
    private readonly Sequential branch3 = Sequential(Conv2d(3, 4, 1), ReLU(), Conv2d(4, 6, 3, padding: 1));
    private readonly Sequential branch5 = Sequential(Conv2d(3, 2, 1), ReLU(), Conv2d(2, 4, 5, padding: 2));
    private readonly Sequential branchPool = Sequential(MaxPool2d(3, stride: 1, padding: 1), Conv2d(3, 2, 1));
    private readonly BatchNorm2d norm = BatchNorm2d(16);
    private readonly Linear head = Linear(16, 10);

    public InceptionNet() : base(nameof(InceptionNet)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor images)
    {
        var mixed = torch.cat(new[] { branch1.call(images), branch3.call(images), branch5.call(images), branchPool.call(images) }, 1);
        var h = functional.relu(norm.call(mixed));
        return head.call(functional.adaptive_avg_pool2d(h, 1).flatten(1));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
