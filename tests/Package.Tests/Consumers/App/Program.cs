using Consumer;
using PrecisionDsl;
using TorchSharp;
using static TorchSharp.torch;

torch.manual_seed(7);
var model = new TwoLayer();
var optimizer = optim.Adam(model.parameters(), lr: 0.01);
var scaler = model.CreateGradScaler();
var x = randn(64, 16);
var y = randint(0, 4, new long[] { 64 });
TrainStepResult first = default, last = default;
for (var step = 0; step < 30; step++)
{
    last = model.TrainStep(x, y, optimizer, scaler);
    if (step == 0) first = last;
}
Console.WriteLine($"first-loss={first.Loss:F4} last-loss={last.Loss:F4} stepped={last.Stepped}");
Console.WriteLine($"weight-dtype={model.parameters().First().dtype}");
