using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Library;

[Bf16]
public partial class Encoder : Module<Tensor, Tensor>
{
    private readonly Linear proj = Linear(8, 8);
    [KeepFp32] private readonly LayerNorm norm = LayerNorm(8);

    public Encoder() : base(nameof(Encoder)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x) => norm.call(proj.call(x));
}
