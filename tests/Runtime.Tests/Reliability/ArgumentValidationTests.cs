using System;
using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Runtime.Tests.Reliability;

/// <summary>
/// Every public runtime entry point rejects bad arguments with an exception naming the parameter, before
/// doing any work. GradScaler's configuration ranges and CpuFp16Dtype are covered in
/// <c>GradScalerTests</c> and <c>PrecisionPolicyTests</c>.
/// </summary>
public sealed class ArgumentValidationTests
{
    private static readonly Type Null = typeof(ArgumentNullException);
    private static readonly Type Range = typeof(ArgumentOutOfRangeException);
    private static readonly Type Invalid = typeof(ArgumentException);

    public static IEnumerable<object[]> EntryPoints() => new (string EntryPoint, Action Call, Type Exception, string Parameter)[]
    {
        ("GradScaler.Scale", () => new GradScaler().Scale(null!), Null, "loss"),
        ("GradScaler.Unscale", () => new GradScaler().Unscale(null!), Null, "optimizer"),
        ("GradScaler.Step", () => new GradScaler().Step(null!), Null, "optimizer"),
        ("GradScaler.LoadState null", () => new GradScaler().LoadState(null!), Null, "state"),
        ("GradScaler.LoadState scale below min", () => new GradScaler().LoadState(DefaultState() with { Scale = 0.5 }), Range, "state"),
        ("GradScaler.LoadState negative skipped", () => new GradScaler().LoadState(DefaultState() with { SkippedSteps = -1 }), Range, "state"),
        ("GradScaler.LoadState hysteresis spent", () => new GradScaler().LoadState(DefaultState() with { HysteresisLeft = 0 }), Range, "state"),
        ("GradScaler.LoadState negative stall count", () => new GradScaler().LoadState(DefaultState() with { SkippedStepsAtMinScale = -1 }), Range, "state"),
        ("GradScaler.LoadState negative stall limit", () => new GradScaler().LoadState(DefaultState() with { MaxSkippedStepsAtMinScale = -1 }), Range, "state"),
        ("GradScaler.MaxSkippedStepsAtMinScale", () => new GradScaler().MaxSkippedStepsAtMinScale = -1, Range, "value"),

        ("MixedPrecisionState ctor owner", () => new MixedPrecisionState(null!, Array.Empty<PrecisionLayer>(), null), Null, "owner"),
        ("MixedPrecisionState ctor layers", () => new MixedPrecisionState(Linear(1, 1), null!, null), Null, "layers"),
        ("MixedPrecisionState ctor unnamed layer", () => new MixedPrecisionState(Linear(1, 1), new PrecisionLayer[1], null), Invalid, "layers"),
        ("MixedPrecisionState ctor undefined kind", () => new MixedPrecisionState(Linear(1, 1), new[] { new PrecisionLayer("fc", Linear(1, 1), (PrecisionKind)7) }, null), Invalid, "layers"),
        ("TrainStep computeLoss", () => Trainable().State.TrainStep(null!, Optimizer(), new GradScaler(), null), Null, "computeLoss"),
        ("TrainStep optimizer", () => Trainable().State.TrainStep(MustNotRun, null!, new GradScaler(), null), Null, "optimizer"),
        ("TrainStep scaler", () => Trainable().State.TrainStep(MustNotRun, Optimizer(), null!, null), Null, "scaler"),
        ("TrainStep maxGradNorm zero", () => Trainable().State.TrainStep(MustNotRun, Optimizer(), new GradScaler(), 0), Range, "maxGradNorm"),
        ("TrainStep maxGradNorm NaN", () => Trainable().State.TrainStep(MustNotRun, Optimizer(), new GradScaler(), double.NaN), Range, "maxGradNorm"),
        ("AccumulateGradients computeLoss", () => Trainable().State.AccumulateGradients(null!, new GradScaler(), 1), Null, "computeLoss"),
        ("AccumulateGradients scaler", () => Trainable().State.AccumulateGradients(MustNotRun, null!, 1), Null, "scaler"),
        ("AccumulateGradients lossWeight NaN", () => Trainable().State.AccumulateGradients(MustNotRun, new GradScaler(), double.NaN), Range, "lossWeight"),
        ("AccumulateGradients lossWeight infinite", () => Trainable().State.AccumulateGradients(MustNotRun, new GradScaler(), double.PositiveInfinity), Range, "lossWeight"),
        ("ApplyGradients optimizer", () => Trainable().State.ApplyGradients(null!, new GradScaler(), null), Null, "optimizer"),
        ("ApplyGradients scaler", () => Trainable().State.ApplyGradients(Optimizer(), null!, null), Null, "scaler"),
        ("ApplyGradients maxGradNorm negative", () => Trainable().State.ApplyGradients(Optimizer(), new GradScaler(), -1), Range, "maxGradNorm"),
        ("MixedPrecisionState.MoveGradientsToMasters", () => MixedPrecisionState.MoveGradientsToMasters(null!), Null, "model"),

        ("Precision.Cast to an integer dtype", () => Precision.Cast(ones(2), ScalarType.Int64), Range, "dtype"),
        ("Precision.Widest null array", () => Precision.Widest(null!), Null, "tensors"),
        ("Precision.Widest nothing", () => Precision.Widest(), Invalid, "tensors"),
        ("Precision.Widest only nulls", () => Precision.Widest(null, null), Invalid, "tensors"),

        ("PrecisionPlan ctor modelName null", () => new PrecisionPlan(null!, Array.Empty<PlanEntry>()), Null, "modelName"),
        ("PrecisionPlan ctor modelName blank", () => new PrecisionPlan(" ", Array.Empty<PlanEntry>()), Invalid, "modelName"),
        ("PrecisionPlan ctor entries null", () => new PrecisionPlan("Model", null!), Null, "entries"),
        ("PrecisionPlan ctor empty entry", () => new PrecisionPlan("Model", new PlanEntry[1]), Invalid, "entries"),

        ("CheckedOps.Matmul left", () => CheckedOps.Matmul(null!, ones(2, 2), "a", "b"), Null, "left"),
        ("CheckedOps.Matmul right", () => CheckedOps.Matmul(ones(2, 2), null!, "a", "b"), Null, "right"),
        ("CheckedOps.Matmul leftName", () => CheckedOps.Matmul(ones(2, 2), ones(2, 2), null!, "b"), Null, "leftName"),
        ("CheckedOps.Matmul rightName", () => CheckedOps.Matmul(ones(2, 2), ones(2, 2), "a", null!), Null, "rightName"),
        ("CheckedOps.Conv2d input", () => CheckedOps.Conv2d(null!, ones(4, 3, 3, 3)), Null, "input"),
        ("CheckedOps.Conv3d weight", () => CheckedOps.Conv3d(ones(1, 3, 4, 4), null!), Null, "weight"),
        ("CheckedOps.ConvTranspose1d weight", () => CheckedOps.ConvTranspose1d(ones(1, 3, 4), null!), Null, "weight"),

        ("TrainingCheckpoint.Save path", () => TrainingCheckpoint.Save(null!, Linear(1, 1), Optimizer(), new GradScaler(), 0), Null, "path"),
        ("TrainingCheckpoint.Save model", () => TrainingCheckpoint.Save("x.pdslckpt", null!, Optimizer(), new GradScaler(), 0), Null, "model"),
        ("TrainingCheckpoint.Save optimizer", () => TrainingCheckpoint.Save("x.pdslckpt", Linear(1, 1), null!, new GradScaler(), 0), Null, "optimizer"),
        ("TrainingCheckpoint.Save scaler", () => TrainingCheckpoint.Save("x.pdslckpt", Linear(1, 1), Optimizer(), null!, 0), Null, "scaler"),
        ("TrainingCheckpoint.Save negative step", () => TrainingCheckpoint.Save("x.pdslckpt", Linear(1, 1), Optimizer(), new GradScaler(), -1), Range, "step"),
        ("TrainingCheckpoint.Save null metadata value", () => TrainingCheckpoint.Save("x.pdslckpt", Linear(1, 1), Optimizer(), new GradScaler(), 0, new Dictionary<string, string> { ["k"] = null! }), Invalid, "metadata"),
        ("TrainingCheckpoint.Load path", () => TrainingCheckpoint.Load(" ", Linear(1, 1), Optimizer(), new GradScaler()), Invalid, "path"),
        ("TrainingCheckpoint.Load scaler", () => TrainingCheckpoint.Load("x.pdslckpt", Linear(1, 1), Optimizer(), null!), Null, "scaler"),
        ("TrainingCheckpoint.SaveNumbered keepLast", () => TrainingCheckpoint.SaveNumbered("x", Linear(1, 1), Optimizer(), new GradScaler(), 0, keepLast: 0), Range, "keepLast"),
        ("TrainingCheckpoint.FindLatest directory", () => TrainingCheckpoint.FindLatest(null!), Null, "directory"),

        ("PrecisionSettings.Logger", () => new PrecisionSettings { Logger = null! }, Null, "value"),
        ("PrecisionPolicy.Use", () => PrecisionPolicy.Use(null!), Null, "settings"),
        ("PrecisionPolicy.DtypeFor", () => PrecisionPolicy.DtypeFor((PrecisionKind)9, DeviceType.CPU), Range, "kind"),
    }.Select(row => new object[] { row.EntryPoint, row.Call, row.Exception, row.Parameter });

    [Theory]
    [MemberData(nameof(EntryPoints))]
    public void Entry_point_rejects_a_bad_argument_naming_the_parameter(string entryPoint, Action call, Type exceptionType, string parameter)
    {
        using var scope = NewDisposeScope();

        var exception = Assert.IsAssignableFrom<ArgumentException>(Record.Exception(call));

        Assert.True(exception.GetType() == exceptionType, $"{entryPoint}: {exception.GetType().Name} instead of {exceptionType.Name}: {exception.Message}");
        Assert.Equal(parameter, exception.ParamName);
        Assert.Contains($"'{parameter}'", exception.Message);
    }

    /// <summary>Passed where validation must fail first: running the forward would mean work was done before the check.</summary>
    private static Tensor MustNotRun() => throw new InvalidOperationException("computeLoss ran before the arguments were validated");

    private static GradScalerState DefaultState() => new GradScaler().GetState();

    private static TinyMlp Trainable() => new(PrecisionKind.Bf16);

    private static optim.Optimizer Optimizer() => optim.SGD(Linear(1, 1).parameters(), 0.1);
}
