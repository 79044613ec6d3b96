using System;
using System.Collections.Generic;

namespace PrecisionDsl.Generator.Policy;

/// <summary>What an op does with the dtype of its inputs (SPEC section 4).</summary>
internal enum OpCategory
{
    /// <summary>Not in any list: runs in the dtype it receives (relu, view, add...).</summary>
    PassThrough,

    /// <summary>Runs in the region's half dtype (matmul-like ops: fast and safe in half).</summary>
    Half,

    /// <summary>Inputs cast to fp32 (reductions, exponentials, norms, losses: lose range or precision in half).</summary>
    Fp32,

    /// <summary>Inputs cast to the widest input dtype (ops that need one dtype across several tensors).</summary>
    Promote,

    /// <summary>
    /// Not in any list, and its result always has its first input's dtype whatever the other tensors are
    /// (masks, indices, shapes): <c>masked_fill</c>, <c>gather</c>, <c>view_as</c>...
    /// </summary>
    SelfDtype,

    /// <summary>Sets its own result dtype (<c>to</c>, <c>half</c>, <c>@float</c>...): the result dtype is unknown statically.</summary>
    DtypeChanging,
}

/// <summary>The dtype a hand-written cast converts to, as far as the source says (<see cref="Other"/>: any other, or not a constant).</summary>
internal enum CastDtype
{
    Other,
    Float32,
    Float16,
    BFloat16,
}

/// <summary>How a layer type runs (the layer counterpart of <see cref="OpCategory"/>).</summary>
internal enum LayerCategory
{
    /// <summary>A weight-bearing compute layer: runs in the resolved precision (Linear, Conv*, Embedding, recurrent...).</summary>
    Compute,

    /// <summary>
    /// In autocast's half list, but TorchSharp keeps the weights in native code where the runtime cannot swap
    /// in half shadows (MultiheadAttention, recurrent layers, Transformer blocks): runs in fp32.
    /// </summary>
    NativeWeights,

    /// <summary>Numerically sensitive (norms, softmax, losses): fp32 unless a member attribute forces half (PDSL004).</summary>
    Sensitive,

    /// <summary>No weights, no precision of its own (activations, dropout, pooling, reshape).</summary>
    PassThrough,

    /// <summary>Sequential/ModuleList/ModuleDict: the runtime applies the resolved precision to the known layers inside.</summary>
    Container,

    /// <summary>A precision model used as a layer: keeps its own plan.</summary>
    PrecisionModel,

    /// <summary>A module type the policy does not know: runs in fp32, inputs cast to fp32.</summary>
    Unknown,

    /// <summary>Not a module at all (a tensor, a number...).</summary>
    NotAModule,
}

/// <summary>
/// The op policy as data, modelled on PyTorch's autocast lists (aten/src/ATen/autocast_mode.h:
/// AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32, AT_FORALL_PROMOTE). Names are TorchSharp's, which follow
/// ATen's; tensor methods and <c>torch.*</c>/<c>functional.*</c> functions share one name space. In-place
/// variants (trailing '_') are deliberately absent: casting their receiver would lose the mutation.
/// </summary>
internal static class OpPolicy
{
    private static readonly string[] HalfOps =
    {
        // SPEC section 4.
        "linear", "matmul", "mm", "bmm", "addmm", "baddbmm", "conv1d", "conv2d", "conv3d",
        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "einsum", "scaled_dot_product_attention",
        "prelu",

        // Also lower-precision in autocast_mode.h.
        "addbmm", "addmv", "addr", "mv", "chain_matmul", "multi_dot",
    };

    private static readonly string[] Fp32Ops =
    {
        // SPEC section 4.
        "softmax", "log_softmax", "layer_norm", "group_norm", "batch_norm", "norm", "exp", "log", "log1p",
        "pow", "rsqrt", "reciprocal", "sum", "mean", "cumsum", "logsumexp",
        "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy",
        "binary_cross_entropy_with_logits", "kl_div", "cosine_similarity", "cdist",

        // Also fp32 in autocast_mode.h.
        "acos", "asin", "cosh", "erfinv", "expm1", "log10", "log2", "sinh", "tan", "softplus", "softmin",
        "instance_norm", "frobenius_norm", "nuclear_norm", "vector_norm", "matrix_norm", "renorm",
        "prod", "cumprod", "dist", "pdist", "huber_loss", "poisson_nll_loss", "cosine_embedding_loss",
        "hinge_embedding_loss", "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss",
        "triplet_margin_loss", "multi_margin_loss", "multilabel_soft_margin_loss",
    };

    private static readonly string[] PromoteOps =
    {
        // SPEC section 4.
        "cat", "stack", "where", "addcmul", "addcdiv", "index_put",

        // Also promote in autocast_mode.h (concat/concatenate are TorchSharp aliases of cat).
        "concat", "concatenate", "atan2", "cross", "dot", "scatter_add", "tensordot",
    };

    private static readonly string[] DtypeChangingOps =
    {
        "to", "type", "to_type", "type_as", "half", "bfloat16", "float", "double", "long", "int", "short",
        "bool", "byte", "char", "view_as_real", "view_as_complex", "real", "imag",
    };

    // Tensor methods that cast to a fixed dtype (C# names: `x.@float()` is "float"), for PDSL011.
    private static readonly Dictionary<string, CastDtype> FixedDtypeCasts = new(StringComparer.Ordinal)
    {
        ["half"] = CastDtype.Float16,
        ["bfloat16"] = CastDtype.BFloat16,
        ["float"] = CastDtype.Float32,
        ["double"] = CastDtype.Other,
    };

    // Tensor methods whose ScalarType argument is the dtype they cast to.
    private static readonly HashSet<string> DtypeArgumentCasts = new(StringComparer.Ordinal) { "to", "to_type", "type" };

    // Members of TorchSharp's ScalarType and the dtype fields of `torch` (torch.float16, torch.half...) by the dtype they name.
    private static readonly Dictionary<string, CastDtype> DtypeNames = new(StringComparer.Ordinal)
    {
        ["Float16"] = CastDtype.Float16,
        ["float16"] = CastDtype.Float16,
        ["half"] = CastDtype.Float16,
        ["BFloat16"] = CastDtype.BFloat16,
        ["bfloat16"] = CastDtype.BFloat16,
        ["Float32"] = CastDtype.Float32,
        ["float32"] = CastDtype.Float32,
        ["float"] = CastDtype.Float32,
    };

    private static readonly string[] SelfDtypeOps =
    {
        "masked_fill", "masked_scatter", "index_select", "gather", "take_along_dim", "view_as", "expand_as",
        "reshape_as", "index_fill", "masked_select", "narrow", "select",
    };

    private static readonly Dictionary<string, OpCategory> Ops = BuildOps();

    // Ops the generated forward sends to the runtime's CheckedOps (TypeNames.GlobalCheckedOps), by TorchSharp name.
    // Products get a shape check naming their operands (TorchSharp 0.107's native matmul aborts the process on a
    // mismatch); all of them run on the device's correct, fast kernel for a half dtype.
    private static readonly Dictionary<string, string> CheckedProducts = new(StringComparer.Ordinal)
    {
        ["matmul"] = "Matmul",
        ["mm"] = "Mm",
        ["bmm"] = "Bmm",
    };

    // Static functions whose CheckedOps counterpart takes the same parameters under the same names.
    private static readonly Dictionary<string, string> CheckedFunctions = new(StringComparer.Ordinal)
    {
        ["einsum"] = "Einsum",
        ["linear"] = "Linear",
        ["conv1d"] = "Conv1d",
        ["conv2d"] = "Conv2d",
        ["conv3d"] = "Conv3d",
        ["conv_transpose1d"] = "ConvTranspose1d",
        ["conv_transpose2d"] = "ConvTranspose2d",
        ["conv_transpose3d"] = "ConvTranspose3d",
    };

    // Fp32-list ops whose result may be stored in the half dtype its readers take (TorchSharp name → CheckedOps member
    // with TorchSharp's parameters plus `storage`). They still compute in fp32; where every reader of the result is a
    // half op, the reader would round the fp32 result to half anyway, so storing it rounded changes no value the
    // readers see, and autograd keeps the half result for the backward instead of an fp32 one (softmax's backward
    // needs only its output). The backward is computed in fp32 from the half-rounded output.
    private static readonly Dictionary<string, string> HalfStoredOps = new(StringComparer.Ordinal)
    {
        ["softmax"] = "Softmax",
    };

    // The parameters a half-stored op's call may bind (TorchSharp's names; the CheckedOps member has the same ones):
    // a call passing anything else (a dtype) keeps TorchSharp's op.
    private static readonly HashSet<string> HalfStoredParameters = new(StringComparer.Ordinal) { "input", "dim" };

    // Layer types by metadata name (all in TorchSharp.Modules).
    // The runtime's LayerCatalog names the same types (half shadows, native weights, norms, containers);
    // tests/Generator.Tests/LayerCatalogAgreementTests.cs checks the two agree on every TorchSharp layer.
    private static readonly string[] ComputeLayers =
    {
        "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
        "ConvTranspose3d", "Embedding", "EmbeddingBag", "PReLU",
    };

    private static readonly string[] NativeWeightLayers =
    {
        "MultiheadAttention", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "Transformer",
        "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoder", "TransformerDecoderLayer",
    };

    private static readonly string[] SensitiveLayers =
    {
        "LayerNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d",
        "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "RMSNorm", "Softmax", "LogSoftmax", "Softmin",
        "Softmax2d", "CosineSimilarity", "PairwiseDistance", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss",
        "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "PoissonNLLLoss",
        "CosineEmbeddingLoss", "HingeEmbeddingLoss", "MarginRankingLoss", "MultiLabelMarginLoss",
        "SoftMarginLoss", "TripletMarginLoss", "MultiMarginLoss", "MultiLabelSoftMarginLoss", "GaussianNLLLoss",
        "CTCLoss",
    };

    // The sensitive layers the runtime runs in fp32 (with fp32 input) inside a container; the others there have no
    // weights and run in what they receive.
    private static readonly string[] NormLayers =
    {
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
        "InstanceNorm3d", "LocalResponseNorm", "RMSNorm",
    };

    private static readonly string[] PassThroughLayers =
    {
        "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Mish", "ELU", "SELU", "CELU", "Sigmoid", "Tanh",
        "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Softshrink", "Hardshrink",
        "Tanhshrink", "Threshold", "GLU", "RReLU", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
        "AlphaDropout", "FeatureAlphaDropout", "Flatten", "Unflatten", "Identity", "MaxPool1d", "MaxPool2d",
        "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Upsample",
        "PixelShuffle", "PixelUnshuffle", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
        "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ChannelShuffle",
    };

    private static readonly string[] ContainerLayers = { "Sequential", "ModuleList`1", "ModuleDict`1" };

    private static readonly Dictionary<string, LayerCategory> Layers = BuildLayers();

    private static readonly HashSet<string> Norms = new(Array.ConvertAll(NormLayers, name => TypeNames.LayerNamespace + "." + name), StringComparer.Ordinal);

    /// <summary>Whether a layer type (metadata name) is a norm: fp32 with fp32 input inside a container.</summary>
    public static bool IsNorm(string layerType) => Norms.Contains(layerType);

    /// <summary>
    /// Tensor methods that may return their receiver object itself (in-place ops end in '_'; conversions return the
    /// tensor as is when nothing changes): their result may be the input, so the liveness pass frees them together.
    /// </summary>
    private static readonly HashSet<string> ReceiverReturningOps = new(StringComparer.Ordinal)
    {
        "to", "type", "cpu", "cuda", "half", "bfloat16", "float", "double", "contiguous", "MoveToOuterDisposeScope",
        "DetachFromDisposeScope", "MoveToOtherDisposeScope",
    };

    /// <summary>Tensor methods that take a tensor out of the forward's hands: a local they are called on is never freed by the generated code.</summary>
    private static readonly HashSet<string> OwnershipOps = new(StringComparer.Ordinal)
    {
        "Dispose", "MoveToOuterDisposeScope", "DetachFromDisposeScope", "MoveToOtherDisposeScope",
    };

    /// <summary>Whether a TorchSharp op may return its receiver object rather than a new tensor.</summary>
    public static bool MayReturnReceiver(string opName) => opName.EndsWith("_", StringComparison.Ordinal) || ReceiverReturningOps.Contains(opName);

    /// <summary>Whether calling this tensor member hands the tensor's lifetime to someone else.</summary>
    public static bool TakesOwnership(string memberName) => OwnershipOps.Contains(memberName);

    /// <summary>
    /// Whether a module type is a TorchSharp layer (not a container, which may hold user code): its <c>call</c> returns a new
    /// tensor or one of its inputs (an in-place activation, Identity), never a tensor someone else holds.
    /// </summary>
    public static bool IsTorchSharpLayer(string layerType) =>
        Layers.TryGetValue(layerType, out var category) && category != LayerCategory.Container;

    /// <summary>
    /// Whether a TorchSharp layer may return its input object (Identity, in-place activations and dropout); weight layers
    /// and norms always return a new tensor, also through the runtime's hooks.
    /// </summary>
    public static bool LayerMayReturnInput(string layerType) =>
        Layers.TryGetValue(layerType, out var category) && category == LayerCategory.PassThrough;

    /// <summary>The CheckedOps member a product (<c>matmul</c>, <c>mm</c>, <c>bmm</c>) goes to; null for any other op.</summary>
    public static string? CheckedProduct(string opName) => CheckedProducts.TryGetValue(opName, out var member) ? member : null;

    /// <summary>The CheckedOps member a static function with TorchSharp's parameters goes to (einsum, linear, conv*); null otherwise.</summary>
    public static string? CheckedFunction(string opName) => CheckedFunctions.TryGetValue(opName, out var member) ? member : null;

    /// <summary>
    /// The CheckedOps member that computes an fp32-list op in fp32 and stores its result in a half dtype (softmax), for a
    /// call read only by half ops; null for any other op.
    /// </summary>
    public static string? HalfStoredOp(string opName) => HalfStoredOps.TryGetValue(opName, out var member) ? member : null;

    /// <summary>Whether a half-stored op's call may bind this parameter (anything else keeps TorchSharp's op).</summary>
    public static bool IsHalfStoredParameter(string parameterName) => HalfStoredParameters.Contains(parameterName);

    /// <summary>The dtype a tensor method casts to without a dtype argument (<c>half</c>, <c>bfloat16</c>...); null for any other method.</summary>
    public static CastDtype? FixedCastTarget(string methodName) => FixedDtypeCasts.TryGetValue(methodName, out var dtype) ? dtype : null;

    /// <summary>Whether a tensor method casts to the dtype its <c>ScalarType</c> argument names (<c>to</c>, <c>to_type</c>, <c>type</c>).</summary>
    public static bool CastsToDtypeArgument(string methodName) => DtypeArgumentCasts.Contains(methodName);

    /// <summary>The dtype a <c>ScalarType</c> member or <c>torch</c> dtype field names ("Float16", "bfloat16", "half"...).</summary>
    public static CastDtype DtypeNamed(string name) => DtypeNames.TryGetValue(name, out var dtype) ? dtype : CastDtype.Other;

    public static OpCategory CategoryOf(string opName) =>
        Ops.TryGetValue(opName, out var category) ? category : OpCategory.PassThrough;

    /// <summary>Category of a module type given by metadata name; "" means not a module.</summary>
    public static LayerCategory CategoryOfLayer(string layerType, bool isModule, bool isPrecisionModel)
    {
        if (isPrecisionModel)
        {
            return LayerCategory.PrecisionModel;
        }

        if (!isModule)
        {
            return LayerCategory.NotAModule;
        }

        return Layers.TryGetValue(layerType, out var category) ? category : LayerCategory.Unknown;
    }

    /// <summary>"TorchSharp.Modules.ModuleList`1" → "ModuleList"; user types keep their simple name.</summary>
    public static string DisplayName(string metadataName)
    {
        var start = Math.Max(metadataName.LastIndexOf('.'), metadataName.LastIndexOf('+')) + 1;
        var tick = metadataName.IndexOf('`', start);
        return tick < 0 ? metadataName.Substring(start) : metadataName.Substring(start, tick - start);
    }

    private static Dictionary<string, OpCategory> BuildOps()
    {
        var ops = new Dictionary<string, OpCategory>(StringComparer.Ordinal);
        Add(ops, HalfOps, OpCategory.Half);
        Add(ops, Fp32Ops, OpCategory.Fp32);
        Add(ops, PromoteOps, OpCategory.Promote);
        Add(ops, DtypeChangingOps, OpCategory.DtypeChanging);
        Add(ops, SelfDtypeOps, OpCategory.SelfDtype);
        return ops;
    }

    private static Dictionary<string, LayerCategory> BuildLayers()
    {
        var layers = new Dictionary<string, LayerCategory>(StringComparer.Ordinal);
        AddLayers(layers, ComputeLayers, LayerCategory.Compute);
        AddLayers(layers, NativeWeightLayers, LayerCategory.NativeWeights);
        AddLayers(layers, SensitiveLayers, LayerCategory.Sensitive);
        AddLayers(layers, PassThroughLayers, LayerCategory.PassThrough);
        AddLayers(layers, ContainerLayers, LayerCategory.Container);
        return layers;
    }

    private static void Add<T>(Dictionary<string, T> table, string[] names, T value)
    {
        foreach (var name in names)
        {
            table[name] = value;
        }
    }

    private static void AddLayers(Dictionary<string, LayerCategory> table, string[] names, LayerCategory value)
    {
        foreach (var name in names)
        {
            table[TypeNames.LayerNamespace + "." + name] = value;
        }
    }
}
