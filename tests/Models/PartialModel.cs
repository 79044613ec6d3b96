using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>
/// No class default: one layer annotated bf16, the rest fp32. Half-list ops run in the model default
/// (fp32 here); the result stays in the dtype it was computed in.
/// </summary>
public partial class PartialModel : Module<Tensor, Tensor>
{
    [Bf16] private readonly Linear projection = Linear(20, 20);
    private readonly Linear gate = Linear(20, 20);
    [KeepFp32] private readonly Linear readout = Linear(20, 2);

    public PartialModel() : base(nameof(PartialModel)) => RegisterComponents();

    [Forward(CastResultToFp32 = false)]
    private Tensor Compute(Tensor x)
    {
        var projected = projection.call(x);
        var gated = torch.sigmoid(gate.call(x)) * torch.matmul(projected, projected.transpose(0, 1)).mean();
        return readout.call(gated + projected);
    }
}
