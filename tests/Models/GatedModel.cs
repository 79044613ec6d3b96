using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

/// <summary>A user-written module the op policy does not know: it runs in fp32, its input cast to fp32.</summary>
public sealed class Gate : Module<Tensor, Tensor>
{
    private readonly Parameter logit = new(torch.zeros(24));

    public Gate() : base(nameof(Gate)) => RegisterComponents();

    public override Tensor forward(Tensor x) => x * torch.sigmoid(logit);
}

/// <summary>A bf16 model around a custom <see cref="Gate"/> module, with a ModuleDict of layers.</summary>
[Bf16]
public partial class GatedModel : Module<Tensor, Tensor>
{
    private readonly Linear input = Linear(10, 24);
    private readonly Gate gate = new();
    private readonly ModuleDict<Linear> heads = ModuleDict(("main", Linear(24, 4)));

    public GatedModel() : base(nameof(GatedModel)) => RegisterComponents();

    [Forward]
    private Tensor Compute(Tensor x) => heads["main"].call(gate.call(functional.relu(input.call(x))));
}
