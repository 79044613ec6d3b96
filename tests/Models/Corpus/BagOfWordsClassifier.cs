using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>The TorchSharpExamples text classifier: an EmbeddingBag (mean of each bag) and a linear head.</summary>
[Bf16]
public partial class BagOfWordsClassifier : Module<Tensor, Tensor>
{
    private readonly EmbeddingBag embedding = EmbeddingBag(60, 16, mode: EmbeddingBagMode.Mean);
    private readonly Linear hidden = Linear(16, 16);
    private readonly Linear head = Linear(16, 4);

    public BagOfWordsClassifier() : base(nameof(BagOfWordsClassifier)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor bags) => head.call(functional.relu(hidden.call(embedding.call(bags))));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor labels) => functional.cross_entropy(logits, labels);
}
