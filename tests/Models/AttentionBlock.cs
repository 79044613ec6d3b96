using System;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>
/// Single-head causal self-attention in bf16: matmuls in half, the masked scores' softmax in fp32
/// (op policy), a residual and a LayerNorm kept fp32 by policy.
/// </summary>
[Bf16]
public partial class AttentionBlock : Module<Tensor, Tensor>
{
    private const int Width = 32;
    private readonly Linear query = Linear(Width, Width);
    private readonly Linear key = Linear(Width, Width);
    private readonly Linear value = Linear(Width, Width);
    private readonly Linear output = Linear(Width, Width);
    private readonly LayerNorm norm = LayerNorm(Width);

    public AttentionBlock() : base(nameof(AttentionBlock)) => RegisterComponents();

    [Forward]
    private Tensor Attend(Tensor x)
    {
        var steps = x.shape[1];
        var q = query.call(x);
        var k = key.call(x);
        var v = value.call(x);
        var scores = torch.matmul(q, k.transpose(-2, -1)) / Math.Sqrt(Width);
        using var causal = torch.ones(steps, steps, dtype: ScalarType.Bool, device: x.device).triu(1);
        scores = scores.masked_fill(causal, -1e4);
        var weights = functional.softmax(scores, -1);
        var attended = output.call(torch.matmul(weights, v));
        return norm.call(x + attended);
    }
}
