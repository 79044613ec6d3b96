using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A pre-norm transformer encoder block on TorchSharp's MultiheadAttention (fp32) with a half feed-forward Sequential.</summary>
[Bf16]
public partial class TransformerBlock : Module<Tensor, Tensor>
{
    private const int Width = 32;
    private readonly Embedding tokens = Embedding(40, Width);
    private readonly LayerNorm attentionNorm = LayerNorm(Width);
    private readonly MultiheadAttention attention = MultiheadAttention(Width, 4);
    private readonly LayerNorm feedForwardNorm = LayerNorm(Width);
    private readonly Sequential feedForward = Sequential(Linear(Width, 4 * Width), GELU(), Linear(4 * Width, Width));
    private readonly Linear head = Linear(Width, 40);

    public TransformerBlock() : base(nameof(TransformerBlock)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor ids)
    {
        var x = tokens.call(ids).transpose(0, 1); // MultiheadAttention takes (sequence, batch, features)
        var normed = attentionNorm.call(x);
        var attended = attention.call(normed, normed, normed, null, false, null).Item1;
        x = x + attended;
        x = x + feedForward.call(feedForwardNorm.call(x));
        return head.call(x.transpose(0, 1));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor targets) => functional.cross_entropy(logits.flatten(0, 1), targets.flatten());
}
