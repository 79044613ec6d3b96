using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>A CNN in fp16 whose BatchNorms stay fp32: one by attribute, one by the op policy.</summary>
[Fp16]
public partial class ConvNet : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1 = Conv2d(3, 8, 3, padding: 1);
    [KeepFp32] private readonly BatchNorm2d bn1 = BatchNorm2d(8);
    private readonly Conv2d conv2 = Conv2d(8, 16, 3, padding: 1);
    private readonly BatchNorm2d bn2 = BatchNorm2d(16);
    private readonly Linear head = Linear(16 * 4 * 4, 10);

    public ConvNet() : base(nameof(ConvNet)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor images)
    {
        var h = functional.relu(bn1.call(conv1.call(images)));
        h = functional.max_pool2d(h, 2);
        h = functional.relu(bn2.call(conv2.call(h)));
        h = functional.max_pool2d(h, 2);
        return head.call(h.flatten(1));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
