using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>
/// Embedding + GRU + per-token head in bf16. The GRU keeps its weights in native code, so the plan runs
/// it in fp32; the embedding and head run in bf16. The forward result is a tuple.
/// </summary>
[Bf16]
public partial class SequenceTagger : Module<Tensor, (Tensor Tags, Tensor Hidden)>
{
    private readonly Embedding embedding = Embedding(100, 16);
    private readonly GRU gru = GRU(16, 24, batchFirst: true);
    private readonly Linear head = Linear(24, 5);

    public SequenceTagger() : base(nameof(SequenceTagger)) => RegisterComponents();

    [Forward]
    private (Tensor Tags, Tensor Hidden) Tag(Tensor tokens)
    {
        var embedded = embedding.call(tokens);
        var (states, hidden) = gru.call(embedded, null);
        return (head.call(states), hidden);
    }
}
