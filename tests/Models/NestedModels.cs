using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels
{
    /// <summary>A bf16 precision model used as a layer of another model.</summary>
    [Bf16]
    public partial class Encoder : Module<Tensor, Tensor>
    {
        private readonly Linear fc = Linear(16, 32);

        public Encoder() : base(nameof(Encoder)) => RegisterComponents();

        [Forward]
        private Tensor Encode(Tensor x) => functional.relu(fc.call(x));
    }

    /// <summary>An fp16 model holding a nested precision model, which keeps its own plan.</summary>
    [Fp16]
    public partial class EncoderClassifier : Module<Tensor, Tensor>
    {
        private readonly Encoder encoder = new();
        private readonly Linear head = Linear(32, 4);

        public EncoderClassifier() : base(nameof(EncoderClassifier)) => RegisterComponents();

        [Forward]
        private Tensor Classify(Tensor x) => head.call(encoder.call(x));

        [LossScaled]
        private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
    }
}
