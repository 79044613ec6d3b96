using System;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Benchmarks;

/// <summary>The MLP, 1024 -> 4096 -> 4096 -> 1024, every layer in bf16.</summary>
[Bf16]
public partial class Mlp : Module<Tensor, Tensor>
{
    public const int Input = 1024, Hidden = 4096, Output = 1024;

    internal readonly Linear fc1 = Linear(Input, Hidden);
    internal readonly Linear fc2 = Linear(Hidden, Hidden);
    internal readonly Linear fc3 = Linear(Hidden, Output);

    public Mlp() : base(nameof(Mlp)) => RegisterComponents();

    [Forward]
    internal Tensor ForwardFp32(Tensor x) => fc3.call(functional.relu(fc2.call(functional.relu(fc1.call(x)))));

    [LossScaled]
    internal Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
}

/// <summary>One pre-norm TinyGpt transformer block with its output head: bf16 matmuls, fp32 norms and softmax.</summary>
[Bf16]
public partial class GptBlock : Module<Tensor, Tensor>
{
    public const int Width = 128, Heads = 4, Context = 11, Vocabulary = 12;

    [KeepFp32] private readonly Embedding tokenEmbedding = Embedding(Vocabulary, Width);
    [KeepFp32] private readonly LayerNorm attentionNorm = LayerNorm(Width);
    private readonly Linear attentionInput = Linear(Width, 3 * Width);
    private readonly Linear attentionOutput = Linear(Width, Width);
    [KeepFp32] private readonly LayerNorm mlpNorm = LayerNorm(Width);
    private readonly Linear mlpInput = Linear(Width, 4 * Width);
    private readonly Linear mlpOutput = Linear(4 * Width, Width);
    private readonly Linear head = Linear(Width, Vocabulary);
    private readonly Tensor futureMask = ones(Context, Context, dtype: ScalarType.Bool).triu(1);

    public GptBlock() : base(nameof(GptBlock)) => RegisterComponents();

    [Forward]
    internal Tensor ForwardFp32(Tensor tokens)
    {
        long batch = tokens.shape[0], time = tokens.shape[1];
        var x = tokenEmbedding.call(tokens);
        var qkv = attentionInput.call(attentionNorm.call(x)).view(batch, time, 3, Heads, Width / Heads).permute(2, 0, 3, 1, 4);
        var scores = qkv[0].matmul(qkv[1].transpose(-2, -1)) * (1.0 / Math.Sqrt(Width / Heads));
        var weights = functional.softmax(scores.masked_fill(futureMask, double.NegativeInfinity), -1);
        x = x + attentionOutput.call(weights.matmul(qkv[2]).transpose(1, 2).reshape(batch, time, Width));
        x = x + mlpOutput.call(functional.gelu(mlpInput.call(mlpNorm.call(x))));
        return head.call(x);
    }

    [LossScaled]
    internal Tensor Loss(Tensor logits, Tensor targets) =>
        functional.cross_entropy(logits.reshape(-1, Vocabulary), targets.reshape(-1));

    /// <summary>The same forward hand-written with the casts a TorchSharp user would write without PrecisionDsl.</summary>
    internal Tensor HandWrittenMixedForward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var half = ScalarType.BFloat16;
        long batch = tokens.shape[0], time = tokens.shape[1];
        var x = tokenEmbedding.call(tokens);
        var qkv = HandWritten.Linear(attentionInput, attentionNorm.call(x), half)
            .view(batch, time, 3, Heads, Width / Heads).permute(2, 0, 3, 1, 4);
        var scores = HandWritten.Matmul(qkv[0], qkv[1].transpose(-2, -1)) * (1.0 / Math.Sqrt(Width / Heads));
        var weights = functional.softmax(scores.masked_fill(futureMask, double.NegativeInfinity).to(ScalarType.Float32), -1);
        x = x + HandWritten.Linear(attentionOutput, HandWritten.Matmul(weights.to(half), qkv[2]).transpose(1, 2).reshape(batch, time, Width), half);
        x = x + HandWritten.Linear(mlpOutput, functional.gelu(HandWritten.Linear(mlpInput, mlpNorm.call(x), half)), half);
        return scope.MoveToOuter(HandWritten.Linear(head, x, half).to(ScalarType.Float32));
    }
}

/// <summary>
/// Mixed precision without PrecisionDsl: cast inputs and weights at every layer call (autocast style).
/// Where the runtime widens half products (PDSL_CPU_HALF_MATMUL, or its kernel self-test), the
/// hand-written step widens them the same way, so both do the same casts and use the same kernels.
/// </summary>
internal static class HandWritten
{
    private static bool Widens(KernelFamily family) => PrecisionPolicy.Widens(family, ScalarType.BFloat16, DeviceType.CPU);

    public static Tensor Linear(Linear layer, Tensor input, ScalarType half) => Widens(KernelFamily.Linear)
        ? functional.linear(Round(input, half), Round(layer.weight!, half), layer.bias is null ? null : Round(layer.bias, half)).to(half)
        : functional.linear(input.to(half), layer.weight!.to(half), layer.bias?.to(half));

    // Attention's batched products: what CheckedOps.Matmul routes to the batched family.
    public static Tensor Matmul(Tensor left, Tensor right) => Widens(KernelFamily.Batched)
        ? left.to(ScalarType.Float32).matmul(right.to(ScalarType.Float32)).to(left.dtype)
        : left.matmul(right);

    private static Tensor Round(Tensor tensor, ScalarType half) => tensor.to(half).to(ScalarType.Float32);

    public static Tensor MlpForward(Mlp mlp, Tensor x)
    {
        using var scope = NewDisposeScope();
        var half = ScalarType.BFloat16;
        var hidden = functional.relu(Linear(mlp.fc2, functional.relu(Linear(mlp.fc1, x, half)), half));
        return scope.MoveToOuter(Linear(mlp.fc3, hidden, half).to(ScalarType.Float32));
    }
}
