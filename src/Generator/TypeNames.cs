namespace PrecisionDsl.Generator;

/// <summary>
/// Metadata names of the runtime and TorchSharp types the generator recognises or emits. The generator
/// never references either assembly: these strings are the whole coupling.
/// </summary>
internal static class TypeNames
{
    // Attributes (runtime assembly, namespace PrecisionDsl).
    public const string Fp16Attribute = "PrecisionDsl.Fp16Attribute";
    public const string Bf16Attribute = "PrecisionDsl.Bf16Attribute";
    public const string KeepFp32Attribute = "PrecisionDsl.KeepFp32Attribute";
    public const string ForwardAttribute = "PrecisionDsl.ForwardAttribute";
    public const string LossScaledAttribute = "PrecisionDsl.LossScaledAttribute";

    // Named arguments of the attributes.
    public const string CastResultToFp32 = "CastResultToFp32";
    public const string InitialScale = "InitialScale";
    public const string GrowthFactor = "GrowthFactor";
    public const string BackoffFactor = "BackoffFactor";
    public const string GrowthInterval = "GrowthInterval";
    public const string Hysteresis = "Hysteresis";
    public const string MinScale = "MinScale";
    public const string MaxScale = "MaxScale";

    // TorchSharp types recognised in user code (nested types use '+', generic arity '`N').
    public const string Tensor = "TorchSharp.torch+Tensor";
    public const string ScalarType = "TorchSharp.torch+ScalarType";
    public const string Torch = "TorchSharp.torch";   // holds the dtype fields torch.float16, torch.half...
    public const string ModuleBase = "TorchSharp.torch+nn+Module";
    public const string GenericModulePrefix = "TorchSharp.torch+nn+Module`";
    public const string TorchSharpNamespace = "TorchSharp";
    public const string LayerNamespace = "TorchSharp.Modules";

    // Tensor methods and torch's functions live in torch and its nested classes; these nested classes hold no tensor ops.
    public const string TorchClass = "TorchSharp.torch";
    public static readonly string[] TorchNonTensorPrefixes = { "TorchSharp.torch+optim", "TorchSharp.torch+utils" };
    public static readonly string[] Containers = { LayerNamespace + ".Sequential", LayerNamespace + ".ModuleList`1", LayerNamespace + ".ModuleDict`1" };

    // Container methods: those that add one layer, and the other edits (after which only the run time knows the contents).
    public static readonly string[] ContainerAdds = { "Add", "append" };
    public static readonly string[] ContainerEdits = { "extend", "insert", "Insert", "AddRange", "InsertRange", "Remove", "RemoveAt", "Clear", "clear", "pop", "update" };

    public const string ModuleCall = "call";
    public const string ModuleForward = "forward";

    // Public members the generator adds to a model; one the user already declares is left out.
    public const string PrecisionPlanMember = "PrecisionPlan";
    public const string TrainStepMember = "TrainStep";
    public const string AccumulateGradientsMember = "AccumulateGradients";
    public const string ApplyGradientsMember = "ApplyGradients";
    public const string CreateGradScalerMember = "CreateGradScaler";
    public const string LoadMember = "load";
    public const string LoadStateDictMember = "load_state_dict";

    public static readonly string[] TrainingMembers =
    {
        TrainStepMember, AccumulateGradientsMember, ApplyGradientsMember, CreateGradScalerMember,
    };

    public static readonly string[] GeneratedPublicMembers =
    {
        PrecisionPlanMember, TrainStepMember, AccumulateGradientsMember, ApplyGradientsMember, CreateGradScalerMember, LoadMember, LoadStateDictMember,
    };

    // Emitted, global::-qualified.
    public const string GlobalTensor = "global::TorchSharp.torch.Tensor";
    public const string GlobalFloat32 = "global::TorchSharp.torch.ScalarType.Float32";
    public const string GlobalNewDisposeScope = "global::TorchSharp.torch.NewDisposeScope";
    public const string GlobalOptimizer = "global::TorchSharp.torch.optim.Optimizer";
    public const string GlobalPrecisionCast = "global::PrecisionDsl.Precision.Cast";
    public const string GlobalPrecisionWidest = "global::PrecisionDsl.Precision.Widest";
    public const string GlobalCheckedOps = "global::PrecisionDsl.CheckedOps";
    public const string GlobalTemporaries = "global::PrecisionDsl.Temporaries";

    // Parameters of CheckedOps.Matmul/Mm/Bmm: the two operands, then the names the shape error gives them.
    public static readonly string[] CheckedProductOperands = { "left", "right" };
    public static readonly string[] CheckedProductOperandNames = { "leftName", "rightName" };

    // The parameter of a half-stored CheckedOps op (CheckedOps.Softmax) that takes the dtype its result is stored in.
    public const string HalfStorageParameter = "storage";
    public const string GlobalMixedPrecisionState = "global::PrecisionDsl.MixedPrecisionState";
    public const string GlobalPrecisionModelInterface = "global::PrecisionDsl.IPrecisionModel";
    public const string GlobalPrecisionLayer = "global::PrecisionDsl.PrecisionLayer";
    public const string GlobalPrecisionKind = "global::PrecisionDsl.PrecisionKind";
    public const string GlobalLossScaleOptions = "global::PrecisionDsl.LossScaleOptions";
    public const string GlobalPrecisionPlan = "global::PrecisionDsl.PrecisionPlan";
    public const string GlobalPlanEntry = "global::PrecisionDsl.PlanEntry";
    public const string GlobalPlanSubjectKind = "global::PrecisionDsl.PlanSubjectKind";
    public const string GlobalTrainStepResult = "global::PrecisionDsl.TrainStepResult";
    public const string GlobalGradScaler = "global::PrecisionDsl.GradScaler";
    public const string GlobalInvalidOperationException = "global::System.InvalidOperationException";

    /// <summary>The generator's version as generated code states it; bump it with any change to the emitted code.</summary>
    public const string GeneratorVersion = "0.1.0";
    public const string GeneratedCodeAttribute = "[global::System.CodeDom.Compiler.GeneratedCode(\"PrecisionDsl\", \"" + GeneratorVersion + "\")]";

    // Not valid on fields, which get only GeneratedCode.
    public const string ExcludeFromCodeCoverageAttribute = "[global::System.Diagnostics.CodeAnalysis.ExcludeFromCodeCoverage]";
}
