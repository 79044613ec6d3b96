using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>
/// Written by hand in the shape docs/ARCHITECTURE.md says the generator emits: a precision model
/// with fc1 and fc2 in <see cref="Kind"/>, a LayerNorm kept in fp32, a forward that enters the
/// state's scope and casts where the dtype changes, and a loss-scaled MSE loss.
/// </summary>
internal sealed class TinyMlp : Module<Tensor, Tensor>, IPrecisionModel
{
    private readonly Linear fc1;
    private readonly LayerNorm norm;
    private readonly Linear fc2;
    private readonly LossScaleOptions? lossScale;
    private MixedPrecisionState? __pdslState;

    public TinyMlp(PrecisionKind kind, long inputs = 4, long hidden = 16, long outputs = 1, LossScaleOptions? lossScale = null, double lossWeight = 1.0)
        : base(nameof(TinyMlp))
    {
        Kind = kind;
        LossWeight = lossWeight;
        this.lossScale = lossScale;
        fc1 = Linear(inputs, hidden);
        norm = LayerNorm(hidden);
        fc2 = Linear(hidden, outputs);
        RegisterComponents();
    }

    public PrecisionKind Kind { get; }

    /// <summary>Multiplies the loss, to make gradients as small as a mean over a huge batch would.</summary>
    public double LossWeight { get; }

    /// <summary>What fc1.weight was during each forward: the half shadow.</summary>
    public List<(ScalarType Dtype, IntPtr Handle, long DataPointer)> Fc1WeightsSeen { get; } = new();

    /// <summary>Makes the next forward throw after the shadows are swapped in.</summary>
    public bool ThrowInForward { get; set; }

    public Linear Fc1 => fc1;

    public LayerNorm Norm => norm;

    public Linear Fc2 => fc2;

    internal MixedPrecisionState State => __pdslState ??= new(this,
        new PrecisionLayer[] { new("fc1", fc1, Kind), new("norm", norm, PrecisionKind.Fp32), new("fc2", fc2, Kind) },
        lossScale);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var weights = State.EnterForward();
        var half = Kind switch
        {
            PrecisionKind.Fp16 => weights.Fp16,
            PrecisionKind.Bf16 => weights.Bf16,
            _ => ScalarType.Float32,
        };
        Fc1WeightsSeen.Add((fc1.weight.dtype, fc1.weight.Handle, Snapshots.DataPointer(fc1.weight)));
        if (ThrowInForward)
        {
            throw new InvalidOperationException("forward failed on purpose");
        }

        var hidden = fc1.call(Precision.Cast(x, half));
        hidden = functional.relu(norm.call(Precision.Cast(hidden, ScalarType.Float32)));
        var result = fc2.call(Precision.Cast(hidden, half));
        return scope.MoveToOuter(Precision.Cast(result, ScalarType.Float32));
    }

    public Tensor Loss(Tensor prediction, Tensor target) => functional.mse_loss(prediction, target) * LossWeight;

    public TrainStepResult TrainStep(Tensor x, Tensor target, Optimizer optimizer, GradScaler scaler, double? maxGradNorm = null) =>
        State.TrainStep(() => Loss(forward(x), target), optimizer, scaler, maxGradNorm);

    public void AccumulateGradients(Tensor x, Tensor target, GradScaler scaler, double lossWeight = 1.0) =>
        State.AccumulateGradients(() => Loss(forward(x), target), scaler, lossWeight);

    public TrainStepResult ApplyGradients(Optimizer optimizer, GradScaler scaler, double? maxGradNorm = null) =>
        State.ApplyGradients(optimizer, scaler, maxGradNorm);

    public GradScaler CreateGradScaler() => State.CreateGradScaler();
}

/// <summary>A precision model whose one member is a half container plus a nested precision model.</summary>
internal sealed class ContainerModel : Module<Tensor, Tensor>, IPrecisionModel
{
    private readonly Sequential body;
    private readonly TinyMlp head;
    private MixedPrecisionState? __pdslState;

    public ContainerModel(PrecisionKind kind) : base(nameof(ContainerModel))
    {
        Kind = kind;
        body = Sequential(("proj", Linear(4, 4)), ("norm", LayerNorm(4)), ("act", ReLU()));
        head = new TinyMlp(kind);
        RegisterComponents();
    }

    public PrecisionKind Kind { get; }

    public Sequential Body => body;

    public TinyMlp Head => head;

    /// <summary>Dtypes seen inside forward: the projection's and the norm's weight.</summary>
    public List<(ScalarType Projection, ScalarType Norm)> DtypesSeen { get; } = new();

    internal MixedPrecisionState State => __pdslState ??= new(this,
        new PrecisionLayer[] { new("body", body, Kind), new("head", head, Kind) }, null);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var weights = State.EnterForward();
        var half = Kind == PrecisionKind.Fp16 ? weights.Fp16 : weights.Bf16;
        DtypesSeen.Add((((Linear)body[0]).weight.dtype, ((LayerNorm)body[1]).weight!.dtype));
        var hidden = body.call(Precision.Cast(x, half));
        return scope.MoveToOuter(head.call(Precision.Cast(hidden, ScalarType.Float32)));
    }

    public TrainStepResult TrainStep(Tensor x, Tensor target, Optimizer optimizer, GradScaler scaler) =>
        State.TrainStep(() => functional.mse_loss(forward(x), target), optimizer, scaler, null);

    public void AccumulateGradients(Tensor x, Tensor target, GradScaler scaler) =>
        State.AccumulateGradients(() => functional.mse_loss(forward(x), target), scaler, 1.0);
}

/// <summary>Regression data shared by the training tests: y = x·w + noise, seeded.</summary>
internal static class RegressionData
{
    public static (Tensor X, Tensor Y) Create(long samples = 32, long inputs = 4, long seed = 7)
    {
        var generator = new torch.Generator().manual_seed(seed);
        var x = randn(new[] { samples, inputs }, generator: generator);
        var w = randn(new[] { inputs, 1L }, generator: generator);
        var y = x.matmul(w) + 0.01 * randn(new[] { samples, 1L }, generator: generator);
        return (x, y);
    }
}

/// <summary>A user block without precision attributes: a Linear, a LayerNorm and a residual add.</summary>
internal sealed class ResidualBlock : Module<Tensor, Tensor>
{
    private readonly Linear proj;
    private readonly LayerNorm norm;

    public ResidualBlock(long width) : base(nameof(ResidualBlock))
    {
        proj = Linear(width, width);
        norm = LayerNorm(width);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x + functional.relu(norm.call(proj.call(x)));
}

/// <summary>
/// A half CNN in the TorchSharpExamples style: a <c>Sequential</c> of convolutions with BatchNorms between
/// them, a <c>ModuleList</c> of user blocks built in a loop, and a head. Forward written as the generator
/// emits it: only the containers' and the head's inputs are cast.
/// </summary>
internal sealed class ConvStackModel : Module<Tensor, Tensor>, IPrecisionModel
{
    private readonly Sequential features;
    private readonly ModuleList<Module<Tensor, Tensor>> blocks = new();
    private readonly Linear head;
    private MixedPrecisionState? __pdslState;

    public ConvStackModel(PrecisionKind kind) : base(nameof(ConvStackModel))
    {
        Kind = kind;
        features = Sequential(
            Conv2d(3, 4, 3, padding: 1), BatchNorm2d(4), ReLU(),
            Conv2d(4, 8, 3, padding: 1, groups: 4), BatchNorm2d(8), ReLU(), AdaptiveAvgPool2d(1), Flatten());
        for (var i = 0; i < 2; i++)
        {
            blocks.Add(new ResidualBlock(8));
        }

        head = Linear(8, 1);
        RegisterComponents();
    }

    public PrecisionKind Kind { get; }

    public Sequential Features => features;

    public ModuleList<Module<Tensor, Tensor>> Blocks => blocks;

    internal MixedPrecisionState State => __pdslState ??= new(this,
        new PrecisionLayer[] { new("features", features, Kind), new("blocks", blocks, Kind), new("head", head, Kind) }, null);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var weights = State.EnterForward();
        var half = Kind == PrecisionKind.Fp16 ? weights.Fp16 : weights.Bf16;
        var hidden = features.call(Precision.Cast(x, half));
        foreach (var block in blocks)
        {
            hidden = block.call(Precision.Cast(hidden, half));
        }

        return scope.MoveToOuter(Precision.Cast(head.call(Precision.Cast(hidden, half)), ScalarType.Float32));
    }

    /// <summary>The same computation in fp32, with none of the precision machinery.</summary>
    public Tensor Reference(Tensor x)
    {
        var hidden = features.call(x);
        foreach (var block in blocks)
        {
            hidden = block.call(hidden);
        }

        return head.call(hidden);
    }

    public TrainStepResult TrainStep(Tensor x, Tensor target, Optimizer optimizer, GradScaler scaler) =>
        State.TrainStep(() => functional.mse_loss(forward(x), target), optimizer, scaler, null);
}

/// <summary>
/// A precision model of <c>depth</c> half Linear layers in a <c>ModuleList</c> and an fp32 LayerNorm
/// head: the many-small-layers shape whose per-step bookkeeping the flat buffers make independent of depth.
/// </summary>
internal sealed class DeepMlp : Module<Tensor, Tensor>, IPrecisionModel
{
    private readonly ModuleList<Linear> layers = new();
    private readonly LayerNorm norm;
    private MixedPrecisionState? __pdslState;

    public DeepMlp(int depth, PrecisionKind kind, long width = 8) : base(nameof(DeepMlp))
    {
        Kind = kind;
        for (var i = 0; i < depth; i++)
        {
            layers.Add(Linear(width, width));
        }

        norm = LayerNorm(width);
        RegisterComponents();
    }

    public PrecisionKind Kind { get; }

    internal MixedPrecisionState State => __pdslState ??= new(this,
        new PrecisionLayer[] { new("layers", layers, Kind), new("norm", norm, PrecisionKind.Fp32) }, null);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var weights = State.EnterForward();
        var hidden = Precision.Cast(x, Kind == PrecisionKind.Fp16 ? weights.Fp16 : weights.Bf16);
        foreach (var layer in layers)
        {
            hidden = functional.relu(layer.call(hidden));
        }

        return scope.MoveToOuter(norm.call(Precision.Cast(hidden, ScalarType.Float32)));
    }

    public TrainStepResult TrainStep(Tensor x, Tensor target, Optimizer optimizer, GradScaler scaler, double? maxGradNorm = null) =>
        State.TrainStep(() => functional.mse_loss(forward(x), target), optimizer, scaler, maxGradNorm);

    public void AccumulateGradients(Tensor x, Tensor target, GradScaler scaler) =>
        State.AccumulateGradients(() => functional.mse_loss(forward(x), target), scaler, 1.0);

    public TrainStepResult ApplyGradients(Optimizer optimizer, GradScaler scaler, double? maxGradNorm = null) =>
        State.ApplyGradients(optimizer, scaler, maxGradNorm);
}
