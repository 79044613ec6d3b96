using System;
using System.Collections.Generic;
using TinyGpt;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// A training workload of the PyTorch anchors: how its model and batch are built and how one step runs, shared by
/// the step timing (<see cref="AnchorSteps"/>) and the device-memory probe (<see cref="DeviceMemory"/>) so both
/// measure the same thing. Models are built from the anchor's seed, so every variant starts from the same weights.
/// </summary>
public sealed class TrainWorkload
{
    private readonly int seed;
    private readonly Func<nn.Module> create;
    private readonly Func<nn.Module, Tensor> fp32Forward;
    private readonly Func<nn.Module, Tensor, Tensor> loss;
    private readonly Func<nn.Module, optim.Optimizer, GradScaler, TrainStepResult> mixedStep;
    private readonly Func<nn.Module, GradScaler> createScaler;
    private readonly Tensor input;

    private TrainWorkload(string name, int seed, double learningRate, Tensor input, Func<nn.Module> create, Func<nn.Module, Tensor> fp32Forward,
        Func<nn.Module, Tensor, Tensor> loss, Func<nn.Module, optim.Optimizer, GradScaler, TrainStepResult> mixedStep,
        Func<nn.Module, GradScaler> createScaler)
    {
        Name = name;
        this.seed = seed;
        LearningRate = learningRate;
        this.input = input;
        this.create = create;
        this.fp32Forward = fp32Forward;
        this.loss = loss;
        this.mixedStep = mixedStep;
        this.createScaler = createScaler;
    }

    public string Name { get; }

    public double LearningRate { get; }

    /// <summary>anchor_mlp_block.py's MLP training step: cross-entropy, AdamW lr 1e-4 (seed 21).</summary>
    public static TrainWorkload Mlp(AnchorOptions options)
    {
        var (inputs, inner, outputs, batch) = MlpShape(options);
        manual_seed(21);
        var x = randn(batch, inputs, device: options.Device);
        var classes = randint(outputs, [batch], device: options.Device);
        return new("mlp_train", 21, 1e-4, x, () => new AnchorMlp(inputs, inner, outputs),
            model => ((AnchorMlp)model).ForwardFp32(x), (model, output) => ((AnchorMlp)model).Loss(output, classes),
            (model, optimizer, scaler) => ((AnchorMlp)model).TrainStep(x, classes, optimizer, scaler),
            model => ((AnchorMlp)model).CreateGradScaler());
    }

    /// <summary>(input, inner, output, batch) of anchor_mlp_block.py's MLP at the options' size.</summary>
    public static (int Input, int Inner, int Output, int Batch) MlpShape(AnchorOptions options) =>
        options.Large ? (4096, 8192, 4096, 8192) : (256, 512, 256, 256);

    /// <summary>anchor_mlp_block.py's transformer block training step: MSE to a random target, AdamW lr 1e-4 (seed 31).</summary>
    public static TrainWorkload Block(AnchorOptions options)
    {
        var (width, heads, sequence, batch) = options.Large ? (1024, 16, 512, 16) : (128, 4, 64, 4);
        manual_seed(31);
        var x = randn(batch, sequence, width, device: options.Device);
        var target = randn(batch, sequence, width, device: options.Device);
        return new("block_train", 31, 1e-4, x, () => new AnchorBlock(width, heads, sequence),
            model => ((AnchorBlock)model).ForwardFp32(x), (model, output) => ((AnchorBlock)model).Loss(output, target),
            (model, optimizer, scaler) => ((AnchorBlock)model).TrainStep(x, target, optimizer, scaler),
            model => ((AnchorBlock)model).CreateGradScaler());
    }

    /// <summary>
    /// anchor_tinygpt.py's step at one of its shapes: the sample's model, random tokens with the first third of the
    /// targets ignored, AdamW lr 3e-4 (seed 52; data seed 51).
    /// </summary>
    public static TrainWorkload TinyGpt(TinyGptShape shape, AnchorOptions options)
    {
        var data = new torch.Generator().manual_seed(51);
        var tokens = randint(TinyGptShape.Vocabulary, [shape.Batch, shape.Context], generator: data).to(options.Device);
        var targets = randint(TinyGptShape.Vocabulary, [shape.Batch, shape.Context], generator: data);
        targets[.., ..(shape.Context / 3)] = TinyGptModel.IgnoredTarget;
        targets = targets.to(options.Device);
        var config = new TinyGptConfig(shape.Layers, shape.Width, shape.Heads, shape.Context, TinyGptShape.Vocabulary);
        return new(shape.Label, 52, 3e-4, tokens, () => new TinyGptModel(config),
            model => ((TinyGptModel)model).ForwardFp32(tokens), (model, output) => ((TinyGptModel)model).Loss(output, targets),
            (model, optimizer, scaler) => ((TinyGptModel)model).TrainStep(tokens, targets, optimizer, scaler),
            model => ((TinyGptModel)model).CreateGradScaler());
    }

    /// <summary>
    /// One variant's step, ready to run: <c>fp32</c> (the untouched [Forward] method, plain step) or mixed (the generated
    /// <c>TrainStep</c>), each with the fused flat AdamW or, <paramref name="torchSharpAdamW"/>, TorchSharp's per-parameter
    /// AdamW (the PyTorch anchors' <c>_noforeach</c> variants). Weight decay 0.01, as PyTorch's AdamW default.
    /// </summary>
    public TrainVariant Variant(string name, bool mixed, bool torchSharpAdamW, Device device)
    {
        manual_seed(seed);
        var model = create();
        model.to(device);
        model.train();
        optim.Optimizer optimizer = torchSharpAdamW
            ? optim.AdamW(model.parameters(), LearningRate, weight_decay: 0.01)
            : model.CreateAdamW(LearningRate, weightDecay: 0.01);
        if (!mixed)
        {
            return new TrainVariant(name, model, optimizer, null,
                () => new TrainStepResult(PlainTraining.PlainStep(optimizer, () => loss(model, fp32Forward(model))), true, 1.0));
        }

        var scaler = createScaler(model);
        return new TrainVariant(name, model, optimizer, scaler, () =>
        {
            using var scope = NewDisposeScope();
            return mixedStep(model, optimizer, scaler);
        });
    }

    /// <summary>The fp32 and mixed variants with both optimizers, named as the PyTorch anchors name theirs.</summary>
    public IReadOnlyList<TrainVariant> AllVariants(AnchorOptions options) =>
    [
        Variant("fp32", mixed: false, torchSharpAdamW: false, options.Device),
        Variant(options.MixedName, mixed: true, torchSharpAdamW: false, options.Device),
        Variant("fp32_noforeach", mixed: false, torchSharpAdamW: true, options.Device),
        Variant(options.MixedName + "_noforeach", mixed: true, torchSharpAdamW: true, options.Device),
    ];

    /// <summary>
    /// max |generated forward - fp32 forward| / max |fp32 forward| on the workload's input, in eval mode, the same
    /// measure as the PyTorch anchors' <c>forward_max_rel_err</c> (autocast vs fp32 on one model).
    /// </summary>
    public double ForwardRelativeError(nn.Module model)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var reference = fp32Forward(model);
        var mixed = ((nn.Module<Tensor, Tensor>)model).call(input).to(ScalarType.Float32);
        double error = (mixed - reference).abs().max().item<float>() / reference.abs().max().item<float>();
        model.train();
        return error;
    }
}

/// <summary>
/// One variant of a workload: its model, optimizer and (mixed) scaler, and its step. A plain fp32 step reports its
/// loss as a <see cref="TrainStepResult"/> that stepped at scale 1.
/// </summary>
public sealed class TrainVariant(string name, nn.Module model, optim.Optimizer optimizer, GradScaler? scaler, Func<TrainStepResult> step) : IDisposable
{
    public string Name => name;

    public nn.Module Model => model;

    public GradScaler? Scaler => scaler;

    public TrainStepResult Step() => step();

    public void Dispose()
    {
        optimizer.Dispose();
        model.Dispose();
    }
}
