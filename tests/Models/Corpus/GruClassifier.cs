using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A text classifier: half embeddings, a GRU (native weights: fp32) and a half head on the last state.</summary>
[Bf16]
public partial class GruClassifier : Module<Tensor, Tensor>
{
    private readonly Embedding embedding = Embedding(50, 16);
    private readonly GRU gru = GRU(16, 24, batchFirst: true);
    private readonly Linear head = Linear(24, 4);

    public GruClassifier() : base(nameof(GruClassifier)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor tokens)
    {
        var (_, hidden) = gru.call(embedding.call(tokens), null);
        return head.call(hidden[-1]);
    }

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
