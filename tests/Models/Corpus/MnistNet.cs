using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>The TorchSharpExamples MNIST net: layers declared as the base class Module&lt;Tensor, Tensor&gt;.</summary>
[Bf16]
public partial class MnistNet : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv1 = Conv2d(1, 8, 3);
    private readonly Module<Tensor, Tensor> conv2 = Conv2d(8, 12, 3);
    private readonly Module<Tensor, Tensor> fc1;
    private readonly Module<Tensor, Tensor> fc2;
    private readonly Module<Tensor, Tensor> pool = MaxPool2d(2);
    private readonly Module<Tensor, Tensor> dropout = Dropout(0.25);

    public MnistNet() : base(nameof(MnistNet))
    {
        fc1 = Linear(12 * 4 * 4, 32);
        fc2 = Linear(32, 10);
        RegisterComponents();
    }

    [Forward]
    private Tensor Compute(Tensor images)
    {
        var h = functional.relu(conv1.call(images));
        h = pool.call(functional.relu(conv2.call(h)));
        h = dropout.call(h.flatten(1));
        h = functional.relu(fc1.call(h));
        return functional.log_softmax(fc2.call(h), 1);
    }

    [LossScaled]
    private Tensor Loss(Tensor logProbabilities, Tensor labels) => functional.nll_loss(logProbabilities, labels);
}
