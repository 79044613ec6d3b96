using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>A two-input module: two encoders in different precisions joined by cat (promote list).</summary>
public partial class PairScorer : Module<Tensor, Tensor, Tensor>
{
    [Bf16] private readonly Linear left = Linear(16, 32);
    private readonly Linear right = Linear(16, 32);
    [Bf16] private readonly Linear head = Linear(64, 1);

    public PairScorer() : base(nameof(PairScorer)) => RegisterComponents();

    [Forward]
    private Tensor Score(Tensor a, Tensor b)
    {
        var joined = torch.cat(new[] { left.call(a), right.call(b) }, 1);
        return head.call(functional.tanh(joined));
    }
}
