using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A residual block without precision attributes of its own: conv/BatchNorm twice and a skip connection.</summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;

    public BasicBlock(long channels) : base(nameof(BasicBlock))
    {
        conv1 = Conv2d(channels, channels, 3, padding: 1, bias: false);
        bn1 = BatchNorm2d(channels);
        conv2 = Conv2d(channels, channels, 3, padding: 1, bias: false);
        bn2 = BatchNorm2d(channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        functional.relu(x + bn2.call(conv2.call(functional.relu(bn1.call(conv1.call(x))))));
}

/// <summary>ResNet-style: a stem, residual blocks in a ModuleList built in a loop, global pooling and a head.</summary>
[Bf16]
public partial class ResNet : Module<Tensor, Tensor>
{
    private readonly Conv2d stem = Conv2d(3, 10, 3, padding: 1, bias: false);
    private readonly BatchNorm2d stemNorm = BatchNorm2d(10);
    private readonly ModuleList<BasicBlock> blocks = new();
    private readonly Linear head = Linear(10, 10);

    public ResNet() : base(nameof(ResNet))
    {
        for (var i = 0; i < 3; i++)
        {
            blocks.Add(new BasicBlock(10));
        }

        RegisterComponents();
    }

    [Forward]
    private Tensor Compute(Tensor images)
    {
        var h = functional.relu(stemNorm.call(stem.call(images)));
        foreach (var block in blocks)
        {
            h = block.call(h);
        }

        return head.call(functional.adaptive_avg_pool2d(h, 1).flatten(1));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
