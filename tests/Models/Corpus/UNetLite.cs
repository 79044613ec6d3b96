using System.Linq;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A small U-Net: stages in a ModuleDict with GroupNorm and InstanceNorm, a skip connection concatenated on channels.</summary>
[Bf16]
public partial class UNetLite : Module<Tensor, Tensor>
{
    private readonly ModuleDict<Module<Tensor, Tensor>> stages = new();
    private readonly Conv2d output = Conv2d(12, 2, 1);

    public UNetLite() : base(nameof(UNetLite))
    {
        stages.Add("down", Sequential(Conv2d(3, 8, 3, padding: 1), GroupNorm(2, 8), SiLU(), MaxPool2d(2)));
        stages.Add("middle", Sequential(Conv2d(8, 8, 3, padding: 1), InstanceNorm2d(8, affine: true), SiLU()));
        stages.Add("up", Sequential(ConvTranspose2d(8, 6, 2, stride: 2), GroupNorm(3, 6), SiLU()));
        stages.Add("skip", Sequential(Conv2d(3, 6, 1), GroupNorm(2, 6)));
        RegisterComponents();

        // TorchSharp 0.107's GroupNorm leaves its affine parameters uninitialised (PyTorch: ones and zeros).
        foreach (var norm in modules().OfType<GroupNorm>())
        {
            init.ones_(norm.weight);
            init.zeros_(norm.bias);
        }
    }

    [Forward]
    private Tensor Compute(Tensor images)
    {
        var up = stages["up"].call(stages["middle"].call(stages["down"].call(images)));
        return output.call(torch.cat(new[] { up, stages["skip"].call(images) }, 1));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor masks) => functional.cross_entropy(logits, masks);
}
