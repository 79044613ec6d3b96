using System;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Benchmarks;

/// <summary>
/// An activation-heavy attention block (context 256: the [batch, heads, 256, 256] scores, masked scores and weights
/// dominate memory), in bf16. <see cref="AttentionFp32"/> is the same block annotated to stay fp32.
/// </summary>
[Bf16]
public partial class AttentionBf16 : Module<Tensor, Tensor>
{
    [KeepFp32] private readonly Embedding embedding = Embedding(AttentionSizes.Vocabulary, AttentionSizes.Width);
    private readonly LayerNorm attentionNorm = LayerNorm(AttentionSizes.Width);
    private readonly Linear attentionInput = Linear(AttentionSizes.Width, 3 * AttentionSizes.Width);
    private readonly Linear attentionOutput = Linear(AttentionSizes.Width, AttentionSizes.Width);
    private readonly LayerNorm mlpNorm = LayerNorm(AttentionSizes.Width);
    private readonly Linear mlpInput = Linear(AttentionSizes.Width, 4 * AttentionSizes.Width);
    private readonly Linear mlpOutput = Linear(4 * AttentionSizes.Width, AttentionSizes.Width);
    private readonly Linear head = Linear(AttentionSizes.Width, AttentionSizes.Vocabulary);
    private readonly Tensor futureMask = ones(AttentionSizes.Context, AttentionSizes.Context, dtype: ScalarType.Bool).triu(1);

    public AttentionBf16() : base(nameof(AttentionBf16)) => RegisterComponents();

    [Forward]
    internal Tensor Attend(Tensor tokens)
    {
        long batch = tokens.shape[0], time = tokens.shape[1];
        const int width = AttentionSizes.Width, heads = AttentionSizes.Heads;
        var x = embedding.call(tokens);
        var qkv = attentionInput.call(attentionNorm.call(x)).view(batch, time, 3, heads, width / heads).permute(2, 0, 3, 1, 4);
        var scores = qkv[0].matmul(qkv[1].transpose(-2, -1)) * (1.0 / Math.Sqrt(width / heads));
        scores = scores.masked_fill(futureMask, double.NegativeInfinity);
        var weights = functional.softmax(scores, -1);
        var attended = weights.matmul(qkv[2]).transpose(1, 2).reshape(batch, time, width);
        x = x + attentionOutput.call(attended);
        var hidden = functional.gelu(mlpInput.call(mlpNorm.call(x)));
        x = x + mlpOutput.call(hidden);
        return head.call(x);
    }

    [LossScaled]
    internal Tensor Loss(Tensor logits, Tensor targets) =>
        functional.cross_entropy(logits.reshape(-1, AttentionSizes.Vocabulary), targets.reshape(-1));
}

/// <summary>The same block with every layer fp32: its generated forward differs from the user's only by the liveness pass.</summary>
public partial class AttentionFp32 : Module<Tensor, Tensor>
{
    [KeepFp32] private readonly Embedding embedding = Embedding(AttentionSizes.Vocabulary, AttentionSizes.Width);
    private readonly LayerNorm attentionNorm = LayerNorm(AttentionSizes.Width);
    private readonly Linear attentionInput = Linear(AttentionSizes.Width, 3 * AttentionSizes.Width);
    private readonly Linear attentionOutput = Linear(AttentionSizes.Width, AttentionSizes.Width);
    private readonly LayerNorm mlpNorm = LayerNorm(AttentionSizes.Width);
    private readonly Linear mlpInput = Linear(AttentionSizes.Width, 4 * AttentionSizes.Width);
    private readonly Linear mlpOutput = Linear(4 * AttentionSizes.Width, AttentionSizes.Width);
    private readonly Linear head = Linear(AttentionSizes.Width, AttentionSizes.Vocabulary);
    private readonly Tensor futureMask = ones(AttentionSizes.Context, AttentionSizes.Context, dtype: ScalarType.Bool).triu(1);

    public AttentionFp32() : base(nameof(AttentionFp32)) => RegisterComponents();

    [Forward]
    internal Tensor Attend(Tensor tokens)
    {
        long batch = tokens.shape[0], time = tokens.shape[1];
        const int width = AttentionSizes.Width, heads = AttentionSizes.Heads;
        var x = embedding.call(tokens);
        var qkv = attentionInput.call(attentionNorm.call(x)).view(batch, time, 3, heads, width / heads).permute(2, 0, 3, 1, 4);
        var scores = qkv[0].matmul(qkv[1].transpose(-2, -1)) * (1.0 / Math.Sqrt(width / heads));
        scores = scores.masked_fill(futureMask, double.NegativeInfinity);
        var weights = functional.softmax(scores, -1);
        var attended = weights.matmul(qkv[2]).transpose(1, 2).reshape(batch, time, width);
        x = x + attentionOutput.call(attended);
        var hidden = functional.gelu(mlpInput.call(mlpNorm.call(x)));
        x = x + mlpOutput.call(hidden);
        return head.call(x);
    }

    [LossScaled]
    internal Tensor Loss(Tensor logits, Tensor targets) =>
        functional.cross_entropy(logits.reshape(-1, AttentionSizes.Vocabulary), targets.reshape(-1));
}

/// <summary>Sizes of the attention probe; the batch comes from PDSL_MEMORY_BATCH (default 16) so a smoke run can be small.</summary>
public static class AttentionSizes
{
    public const int Width = 128, Heads = 4, Context = 256, Vocabulary = 64;

    public static int Batch => int.TryParse(Environment.GetEnvironmentVariable("PDSL_MEMORY_BATCH"), out var batch) && batch > 0 ? batch : 16;
}

/// <summary>One training step of the attention block: plain TorchSharp fp32, generated fp32 (liveness pass only), generated bf16.</summary>
public sealed class AttentionStep
{
    private AttentionFp32 fp32 = null!;
    private AttentionBf16 bf16 = null!;
    private optim.Optimizer optimizer = null!;
    private GradScaler scaler = null!;
    private Tensor tokens = null!, targets = null!;

    private void Data()
    {
        manual_seed(1);
        tokens = randint(AttentionSizes.Vocabulary, [AttentionSizes.Batch, AttentionSizes.Context]);
        targets = randint(AttentionSizes.Vocabulary, [AttentionSizes.Batch, AttentionSizes.Context]);
    }

    public Func<double> PlainFp32()
    {
        Data();
        fp32 = new AttentionFp32();
        optimizer = optim.AdamW(fp32.parameters(), 1e-3);
        return () => PlainTraining.PlainStep(optimizer, () => fp32.Loss(fp32.Attend(tokens), targets));
    }

    public Func<double> GeneratedFp32()
    {
        Data();
        fp32 = new AttentionFp32();
        optimizer = optim.AdamW(fp32.parameters(), 1e-3);
        scaler = fp32.CreateGradScaler();
        return () =>
        {
            using var scope = NewDisposeScope();
            return fp32.TrainStep(tokens, targets, optimizer, scaler).Loss;
        };
    }

    public Func<double> GeneratedBf16()
    {
        Data();
        bf16 = new AttentionBf16();
        optimizer = optim.AdamW(bf16.parameters(), 1e-3);
        scaler = bf16.CreateGradScaler();
        return () =>
        {
            using var scope = NewDisposeScope();
            return bf16.TrainStep(tokens, targets, optimizer, scaler).Loss;
        };
    }
}
