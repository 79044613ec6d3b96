using System;
using PrecisionDsl;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// anchor_mlp_block.py's MLP (input → inner → inner → output, ReLU), mixed precision: fp16 on CUDA, bf16 on CPU by
/// policy. Cross-entropy over the output as classes, like the PyTorch anchor's training step.
/// </summary>
[Fp16]
public partial class AnchorMlp : Module<Tensor, Tensor>
{
    private readonly Linear l1, l2, l3;

    public AnchorMlp(int input, int inner, int output) : base(nameof(AnchorMlp))
    {
        l1 = Linear(input, inner);
        l2 = Linear(inner, inner);
        l3 = Linear(inner, output);
        RegisterComponents();
    }

    [Forward]
    internal Tensor ForwardFp32(Tensor x) => l3.call(functional.relu(l2.call(functional.relu(l1.call(x)))));

    [LossScaled]
    internal Tensor Loss(Tensor logits, Tensor classes) => functional.cross_entropy(logits, classes);
}

/// <summary>
/// anchor_mlp_block.py's pre-LN transformer block (fused qkv attention written with matmul / masked_fill / softmax,
/// GELU MLP 4x), mixed precision; MSE to a random target. Norms and softmax stay fp32 by op policy.
/// </summary>
[Fp16]
public partial class AnchorBlock : Module<Tensor, Tensor>
{
    private readonly int width, heads, headWidth;
    private readonly double scale;
    private readonly LayerNorm ln1, ln2;
    private readonly Linear qkv, proj, fc1, fc2;
    private readonly Tensor futureMask;

    public AnchorBlock(int width, int heads, int sequence) : base(nameof(AnchorBlock))
    {
        this.width = width;
        this.heads = heads;
        headWidth = width / heads;
        scale = 1.0 / Math.Sqrt(headWidth);
        ln1 = LayerNorm(width);
        qkv = Linear(width, 3 * width);
        proj = Linear(width, width);
        ln2 = LayerNorm(width);
        fc1 = Linear(width, 4 * width);
        fc2 = Linear(4 * width, width);
        futureMask = ones(sequence, sequence, dtype: ScalarType.Bool).triu(1);
        RegisterComponents();
    }

    [Forward]
    internal Tensor ForwardFp32(Tensor x)
    {
        long batch = x.shape[0], time = x.shape[1];
        var q = qkv.call(ln1.call(x)).view(batch, time, 3, heads, headWidth).permute(2, 0, 3, 1, 4);
        var scores = q[0].matmul(q[1].transpose(-2, -1)) * scale;
        var weights = functional.softmax(scores.masked_fill(futureMask, double.NegativeInfinity), -1);
        var attended = weights.matmul(q[2]).transpose(1, 2).reshape(batch, time, width);
        var h = x + proj.call(attended);
        return h + fc2.call(functional.gelu(fc1.call(ln2.call(h))));
    }

    [LossScaled]
    internal Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
}
