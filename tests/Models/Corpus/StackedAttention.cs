using System.Linq;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>
/// A GPT-style stack written as a loop over layers held in ModuleLists (as nanoGPT and the TinyGpt sample do): the
/// softmax of each layer is declared inside the loop body, where the generator stores it in half like an outermost one.
/// </summary>
[Fp16]
public partial class StackedAttention : Module<Tensor, Tensor>
{
    private const int Width = 32, Heads = 4, Layers = 2, Vocabulary = 40;
    [KeepFp32] private readonly Embedding tokens = Embedding(Vocabulary, Width);
    [KeepFp32] private readonly ModuleList<LayerNorm> norms = ModuleList(Enumerable.Range(0, Layers).Select(_ => LayerNorm(Width)).ToArray());
    private readonly ModuleList<Linear> projections = ModuleList(Enumerable.Range(0, Layers).Select(_ => Linear(Width, 3 * Width)).ToArray());
    private readonly ModuleList<Linear> outputs = ModuleList(Enumerable.Range(0, Layers).Select(_ => Linear(Width, Width)).ToArray());
    private readonly Linear head = Linear(Width, Vocabulary);

    public StackedAttention() : base(nameof(StackedAttention)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor ids)
    {
        long batch = ids.shape[0], steps = ids.shape[1];
        var x = tokens.call(ids);
        using var future = torch.ones(steps, steps, dtype: ScalarType.Bool, device: ids.device).triu(1);
        for (int layer = 0; layer < Layers; layer++)
        {
            var qkv = projections[layer].call(norms[layer].call(x)).view(batch, steps, 3, Heads, Width / Heads).permute(2, 0, 3, 1, 4);
            var scores = qkv[0].matmul(qkv[1].transpose(-2, -1)) * (1.0 / System.Math.Sqrt(Width / Heads));
            var weights = functional.softmax(scores.masked_fill(future, double.NegativeInfinity), -1);
            x = x + outputs[layer].call(weights.matmul(qkv[2]).transpose(1, 2).reshape(batch, steps, Width));
        }
        return head.call(x);
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor targets) => functional.cross_entropy(logits.flatten(0, 1), targets.flatten());
}
