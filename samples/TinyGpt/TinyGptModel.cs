using System.Linq;
using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TinyGpt;

/// <summary>
/// Size of a <see cref="TinyGptModel"/>. With <paramref name="ProblemLength"/> a sequence packs independent problems of
/// that many characters: positions restart at each problem and attention stays within it (a block-diagonal causal
/// mask, as packed training sequences are masked), so every problem is learned at the same positions; without it
/// the sequence is one causal text.
/// </summary>
public sealed record TinyGptConfig(int Layers, int ModelWidth, int Heads, int ContextLength, int VocabularySize, int? ProblemLength = null)
{
    public int HeadWidth => ModelWidth / Heads;
}

/// <summary>
/// A small pre-norm causal transformer written once in plain fp32 TorchSharp. PrecisionDsl generates
/// its mixed-precision <c>forward</c> and loss-scaled <c>TrainStep</c>: linear layers and attention
/// matmuls run in half precision (fp16 on CUDA, bf16 on CPU by policy), the LayerNorms and the
/// embeddings (the fp32 residual stream) stay fp32, softmax and the loss run in fp32 by op policy.
/// </summary>
[Fp16]
public partial class TinyGptModel : Module<Tensor, Tensor>
{
    /// <summary>Target id the loss ignores: the prompt positions, whose next character is given, not predicted.</summary>
    public const long IgnoredTarget = -100;

    // Embedding lookups do no arithmetic worth halving; keeping them fp32 keeps the residual stream fp32.
    [KeepFp32] private readonly Embedding tokenEmbedding;
    [KeepFp32] private readonly Embedding positionEmbedding;
    [KeepFp32] private readonly ModuleList<LayerNorm> attentionNorms;
    private readonly ModuleList<Linear> attentionInputs;   // query, key and value in one matmul
    private readonly ModuleList<Linear> attentionOutputs;
    [KeepFp32] private readonly ModuleList<LayerNorm> mlpNorms;
    private readonly ModuleList<Linear> mlpInputs;
    private readonly ModuleList<Linear> mlpOutputs;
    [KeepFp32] private readonly LayerNorm finalNorm;
    private readonly Linear head;

    private readonly Tensor positions;
    private readonly Tensor futureMask;     // keys a query may not see: later ones, and those of other problems
    private readonly int heads;
    private readonly int headWidth;
    private readonly double attentionScale;

    public TinyGptModel(TinyGptConfig config) : base(nameof(TinyGptModel))
    {
        Config = config;
        int width = config.ModelWidth;
        heads = config.Heads;
        headWidth = config.HeadWidth;
        attentionScale = 1.0 / System.Math.Sqrt(headWidth);

        tokenEmbedding = Embedding(config.VocabularySize, width);
        int problemLength = System.Math.Min(config.ProblemLength ?? config.ContextLength, config.ContextLength);
        positionEmbedding = Embedding(problemLength, width);
        attentionNorms = ModuleList(Enumerable.Range(0, config.Layers).Select(_ => LayerNorm(width)).ToArray());
        attentionInputs = ModuleList(Enumerable.Range(0, config.Layers).Select(_ => Linear(width, 3 * width)).ToArray());
        attentionOutputs = ModuleList(Enumerable.Range(0, config.Layers).Select(_ => Linear(width, width)).ToArray());
        mlpNorms = ModuleList(Enumerable.Range(0, config.Layers).Select(_ => LayerNorm(width)).ToArray());
        mlpInputs = ModuleList(Enumerable.Range(0, config.Layers).Select(_ => Linear(width, 4 * width)).ToArray());
        mlpOutputs = ModuleList(Enumerable.Range(0, config.Layers).Select(_ => Linear(4 * width, width)).ToArray());
        finalNorm = LayerNorm(width);
        head = Linear(width, config.VocabularySize);

        using var index = arange(config.ContextLength, dtype: ScalarType.Int64);
        using var problem = index.div(problemLength, rounding_mode: RoundingMode.floor);
        positions = index.remainder(problemLength);
        futureMask = ones(config.ContextLength, config.ContextLength, dtype: ScalarType.Bool).triu(1)
            .logical_or_(problem.unsqueeze(1).ne(problem.unsqueeze(0)));
        RegisterComponents();
    }

    public TinyGptConfig Config { get; }

    /// <summary>Logits for the next character at every position of <paramref name="tokens"/> (batch, time).</summary>
    [Forward]
    internal Tensor ForwardFp32(Tensor tokens)
    {
        long batch = tokens.shape[0], time = tokens.shape[1], width = Config.ModelWidth;
        var x = tokenEmbedding.call(tokens) + positionEmbedding.call(positions.narrow(0, 0, time));
        var mask = futureMask.narrow(0, 0, time).narrow(1, 0, time);
        for (int layer = 0; layer < attentionNorms.Count; layer++)
        {
            // (batch, time, 3*width) -> three (batch, heads, time, headWidth) tensors
            var qkv = attentionInputs[layer].call(attentionNorms[layer].call(x))
                .view(batch, time, 3, heads, headWidth).permute(2, 0, 3, 1, 4);
            var scores = qkv[0].matmul(qkv[1].transpose(-2, -1)) * attentionScale;
            var weights = functional.softmax(scores.masked_fill(mask, double.NegativeInfinity), -1);
            var attended = weights.matmul(qkv[2]).transpose(1, 2).reshape(batch, time, width);
            x = x + attentionOutputs[layer].call(attended);
            x = x + mlpOutputs[layer].call(functional.gelu(mlpInputs[layer].call(mlpNorms[layer].call(x))));
        }
        return head.call(finalNorm.call(x));
    }

    /// <summary>Mean cross-entropy over the answer characters (prompt targets are <see cref="IgnoredTarget"/>).</summary>
    [LossScaled(GrowthInterval = 200)]
    internal Tensor Loss(Tensor logits, Tensor targets) =>
        functional.cross_entropy(logits.reshape(-1, logits.shape[2]), targets.reshape(-1), ignore_index: IgnoredTarget);
}
