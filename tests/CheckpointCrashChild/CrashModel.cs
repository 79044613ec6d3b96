using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.CheckpointCrashChild;

/// <summary>
/// A tiny generated precision model: fp16 (bf16 on CPU unless <c>PDSL_CPU_FP16=fp16</c>) with its
/// norm kept fp32 by the generator.
/// </summary>
[Fp16]
public partial class CrashModel : Module<Tensor, Tensor>
{
    private readonly Linear fc1 = Linear(4, 8);
    private readonly LayerNorm norm = LayerNorm(8);
    private readonly Linear fc2 = Linear(8, 1);

    public CrashModel() : base(nameof(CrashModel)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x) => fc2.call(functional.relu(norm.call(fc1.call(x))));

    [LossScaled]
    private Tensor Loss(Tensor prediction, Tensor target) => functional.mse_loss(prediction, target);
}
