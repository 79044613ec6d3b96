using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.TestModels;

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

/// <summary>A precision model meant as a base: a protected layer and the loss its derived models train with.</summary>
[Bf16]
public partial class TrunkModel : Module<Tensor, Tensor>
{
    protected readonly Linear trunk = Linear(16, 32);

    public TrunkModel() : base(nameof(TrunkModel)) => RegisterComponents();

    [Forward]
    private Tensor Run(Tensor x) => functional.relu(trunk.call(x));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
}

/// <summary>
/// A precision model deriving from another: its generated forward replaces the base's, and the base's generated
/// TrainStep drives it. The base's layer is not a member of this class, so it runs in fp32 here.
/// </summary>
[Bf16]
public partial class HeadedTrunk : TrunkModel
{
    private readonly Linear head = Linear(32, 4);

    [Forward]
    private Tensor Classify(Tensor x) => head.call(functional.relu(trunk.call(x)));
}

/// <summary>A nested precision model inside a container: the container's half plan skips it, it keeps its own.</summary>
[Bf16]
public partial class EncoderStack : Module<Tensor, Tensor>
{
    private readonly Sequential body = Sequential(("encoder", new Encoder()), ("head", Linear(32, 4)));

    public EncoderStack() : base(nameof(EncoderStack)) => RegisterComponents();

    [Forward]
    private Tensor Run(Tensor x) => body.call(x);

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
}

/// <summary>An fp16 precision model meant to be nested in a model that has no fp16 layer of its own.</summary>
[Fp16]
public partial class Fp16Encoder : Module<Tensor, Tensor>
{
    private readonly Linear fc = Linear(16, 32);

    public Fp16Encoder() : base(nameof(Fp16Encoder)) => RegisterComponents();

    [Forward]
    private Tensor Encode(Tensor x) => functional.relu(fc.call(x));

    [LossScaled]
    private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
}

/// <summary>A bf16 model whose nested precision model runs fp16: its scaler must scale for the nested layers.</summary>
[Bf16]
public partial class Fp16EncoderClassifier : Module<Tensor, Tensor>
{
    private readonly Fp16Encoder encoder = new();
    private readonly Linear head = Linear(32, 4);

    public Fp16EncoderClassifier() : base(nameof(Fp16EncoderClassifier)) => RegisterComponents();

    [Forward]
    private Tensor Classify(Tensor x) => head.call(encoder.call(x));

    [LossScaled]
    private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
}
