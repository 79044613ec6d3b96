using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>A user block without precision attributes: inside a container, each of its layers runs by its type.</summary>
public sealed class ResBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly Module<Tensor, Tensor> norm1;

    public ResBlock(long channels) : base(nameof(ResBlock))
    {
        conv1 = Conv2d(channels, channels, 3, padding: 1);
        norm1 = BatchNorm2d(channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => functional.relu(norm1.call(conv1.call(x))) + x;
}

/// <summary>
/// TorchSharpExamples style: a Module&lt;Tensor, Tensor&gt;-typed layer, a Sequential, and a ModuleList of user
/// blocks filled in a constructor loop. The plan table lists each layer inside the containers.
/// </summary>
[Bf16]
public partial class ContainerNet : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> stem = Conv2d(3, 8, 3, padding: 1);
    private readonly Sequential features = Sequential(Conv2d(8, 8, 3, padding: 1), BatchNorm2d(8), ReLU());
    private readonly ModuleList<ResBlock> blocks = new ModuleList<ResBlock>();
    private readonly Linear head = Linear(8, 10);

    public ContainerNet(int depth = 2) : base(nameof(ContainerNet))
    {
        for (var i = 0; i < depth; i++)
        {
            blocks.Add(new ResBlock(8));
        }

        RegisterComponents();
    }

    [Forward]
    private Tensor Compute(Tensor images)
    {
        var h = features.call(stem.call(images));
        foreach (var block in blocks)
        {
            h = block.call(h);
        }

        return head.call(functional.adaptive_avg_pool2d(h, 1).flatten(1));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
