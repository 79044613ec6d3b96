using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>Hand-written causal self-attention (GPT style): fused qkv projection, scaled scores, a causal mask, softmax.</summary>
[Fp16]
public partial class CausalSelfAttention : Module<Tensor, Tensor>
{
    private const int Width = 32;
    private const int Heads = 4;
    private readonly Linear qkv = Linear(Width, 3 * Width);
    private readonly Linear projection = Linear(Width, Width);
    private readonly LayerNorm norm = LayerNorm(Width);
    private readonly Linear head = Linear(Width, 8);

    public CausalSelfAttention() : base(nameof(CausalSelfAttention)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x)
    {
        long batch = x.shape[0], steps = x.shape[1];
        var parts = qkv.call(norm.call(x)).chunk(3, -1);
        var q = parts[0].view(batch, steps, Heads, Width / Heads).transpose(1, 2);
        var k = parts[1].view(batch, steps, Heads, Width / Heads).transpose(1, 2);
        var v = parts[2].view(batch, steps, Heads, Width / Heads).transpose(1, 2);
        var scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / System.Math.Sqrt(Width / Heads));
        using var future = torch.ones(steps, steps, dtype: ScalarType.Bool, device: x.device).triu(1);
        var weights = functional.softmax(scores.masked_fill(future, -1e4), -1);
        var attended = torch.matmul(weights, v).transpose(1, 2).reshape(batch, steps, Width);
        return head.call(x + projection.call(attended));
    }

    [LossScaled]
    private Tensor Loss(Tensor prediction, Tensor target) => functional.mse_loss(prediction, target);
}
