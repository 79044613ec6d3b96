using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels.Corpus;

/// <summary>A time-series regressor: a two-layer LSTM (native weights: fp32) and half projection layers around it.</summary>
[Bf16]
public partial class LstmForecaster : Module<Tensor, Tensor>
{
    private readonly Linear inputProjection = Linear(3, 16);
    private readonly LSTM lstm = LSTM(16, 16, numLayers: 2, batchFirst: true);
    private readonly Linear output = Linear(16, 1);

    public LstmForecaster() : base(nameof(LstmForecaster)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor series)
    {
        var (states, _, _) = lstm.call(functional.tanh(inputProjection.call(series)), null);
        return output.call(states[.., -1]);
    }

    [LossScaled]
    private Tensor Loss(Tensor prediction, Tensor target) => functional.mse_loss(prediction, target);
}
