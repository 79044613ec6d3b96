using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A convolutional autoencoder: strided Conv2d down, ConvTranspose2d with BatchNorm up, reconstruction loss.</summary>
[Bf16]
public partial class ConvAutoencoder : Module<Tensor, Tensor>
{
    private readonly Sequential encoder = Sequential(
        Conv2d(1, 6, 3, stride: 2, padding: 1), ReLU(), Conv2d(6, 12, 3, stride: 2, padding: 1), ReLU());
    private readonly Sequential decoder = Sequential(
        ConvTranspose2d(12, 6, 3, stride: 2, padding: 1, output_padding: 1), BatchNorm2d(6), ReLU(),
        ConvTranspose2d(6, 1, 3, stride: 2, padding: 1, output_padding: 1));

    public ConvAutoencoder() : base(nameof(ConvAutoencoder)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor images) => decoder.call(encoder.call(images));

    [LossScaled]
    private Tensor Loss(Tensor reconstruction, Tensor images) => functional.mse_loss(reconstruction, images);
}
