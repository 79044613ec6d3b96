using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>
/// A GPT-2-style language model whose output head shares the token embedding's weight (weight tying): one fp32
/// master read by a half Embedding and a half Linear, whose kernels a CPU may run natively and widened respectively.
/// </summary>
[Bf16]
public partial class TiedLanguageModel : Module<Tensor, Tensor>
{
    private const int Vocabulary = 40, Width = 32;
    private readonly Embedding tokens = Embedding(Vocabulary, Width);
    [KeepFp32] private readonly LayerNorm norm = LayerNorm(Width);
    private readonly Linear mix = Linear(Width, Width);
    private readonly Linear head = Linear(Width, Vocabulary, hasBias: false);

    public TiedLanguageModel() : base(nameof(TiedLanguageModel))
    {
        head.weight = tokens.weight!; // (vocabulary, width) in both
        RegisterComponents();
    }

    [Forward]
    private Tensor Compute(Tensor ids)
    {
        var x = tokens.call(ids);
        x = x + functional.gelu(mix.call(norm.call(x)));
        return head.call(norm.call(x));
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor targets) => functional.cross_entropy(logits.flatten(0, 1), targets.flatten());
}
