using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Deep;

/// <summary>Models declared inside another class, itself in a nested namespace.</summary>
public static partial class Zoo
{
    /// <summary>A small bf16 regressor nested in <see cref="Zoo"/>.</summary>
    [Bf16]
    public partial class Regressor : Module<Tensor, Tensor>
    {
        private readonly Linear hidden = Linear(8, 16);
        private readonly Linear output = Linear(16, 1);

        public Regressor() : base(nameof(Regressor)) => RegisterComponents();

        [Forward]
        private Tensor Predict(Tensor x) => output.call(functional.silu(hidden.call(x)));

        [LossScaled]
        private Tensor Loss(Tensor prediction, Tensor target) => functional.mse_loss(prediction, target);
    }
}
