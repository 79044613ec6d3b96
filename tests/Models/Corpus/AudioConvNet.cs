using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A 1-D convolutional audio classifier: strided Conv1d/BatchNorm1d/ReLU stages in a Sequential, global pooling.</summary>
[Bf16]
public partial class AudioConvNet : Module<Tensor, Tensor>
{
    private readonly Sequential encoder = Sequential(
        ("conv1", Conv1d(1, 6, 5, stride: 2)), ("bn1", BatchNorm1d(6)), ("relu1", ReLU()),
        ("conv2", Conv1d(6, 10, 3, stride: 2)), ("bn2", BatchNorm1d(10)), ("relu2", ReLU()),
        ("pool", AdaptiveAvgPool1d(1)), ("flatten", Flatten()));
    private readonly Linear head = Linear(10, 5);

    public AudioConvNet() : base(nameof(AudioConvNet)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor waveform) => head.call(encoder.call(waveform));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
