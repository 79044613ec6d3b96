using System.Collections.Generic;
using System.Linq;

namespace PrecisionDsl.Generator.Policy;

/// <summary>The PDSL rule ids (SPEC section 5). IDs never change meaning once shipped.</summary>
internal static class RuleIds
{
    public const string NotPartial = "PDSL001";
    public const string NotAModule = "PDSL002";
    public const string ConflictingAttributes = "PDSL003";
    public const string SensitiveLayerInHalf = "PDSL004";
    public const string HalfConstant = "PDSL005";
    public const string Fp16WithoutLossScaling = "PDSL006";
    public const string LossNotTensor = "PDSL007";
    public const string ForwardProblem = "PDSL008";
    public const string UnknownLayerAnnotated = "PDSL009";
    public const string Fp32OpPromoted = "PDSL010";
    public const string ManualCast = "PDSL011";
    public const string LossNotCallable = "PDSL012";
    public const string LayerTypeNotVisible = "PDSL013";
    public const string BaseForwardCall = "PDSL014";
    public const string UnknownLayerInHalfModel = "PDSL015";
}

internal enum RuleSeverity
{
    Info,
    Warning,

    /// <summary>A model with an error gets only a throwing <c>forward</c>.</summary>
    Error,
}

/// <summary>One rule: everything a diagnostic descriptor, the planner and the code fixes need to know about it.</summary>
/// <param name="MessageFormat">{0} is the problem's subject (class, member, op or literal), {1} its detail.</param>
internal sealed record Rule(string Id, RuleSeverity Severity, string Category, string Title, string MessageFormat)
{
    public bool IsError => Severity == RuleSeverity.Error;
}

/// <summary>
/// Every PrecisionDsl rule, the one place that states a rule's severity and text. The analyzers' descriptors are
/// built from it (<c>Diagnostics/DiagnosticDescriptors.cs</c>), the planner and emitter ask it whether a rule is an
/// error, and the code fixes name their rules through <see cref="RuleIds"/>.
/// </summary>
internal static class RuleCatalog
{
    public const string UsageCategory = "PrecisionDsl.Usage";
    public const string NumericsCategory = "PrecisionDsl.Numerics";

    public static readonly Rule NotPartial = new(
        RuleIds.NotPartial,
        RuleSeverity.Error,
        UsageCategory,
        "Precision model must be partial",
        "Precision model '{0}' cannot receive its generated forward: {1}; add the 'partial' modifier");

    public static readonly Rule NotAModule = new(
        RuleIds.NotAModule,
        RuleSeverity.Error,
        UsageCategory,
        "Precision model must derive from torch.nn.Module<...>",
        "'{0}' carries precision attributes but {1}: derive it from torch.nn.Module<T, TResult> (or Module<T1, T2, TResult>, ...) or remove the attributes");

    public static readonly Rule ConflictingAttributes = new(
        RuleIds.ConflictingAttributes,
        RuleSeverity.Error,
        UsageCategory,
        "Conflicting precision attributes",
        "'{0}' carries conflicting precision attributes ({1}): keep exactly one");

    public static readonly Rule SensitiveLayerInHalf = new(
        RuleIds.SensitiveLayerInHalf,
        RuleSeverity.Warning,
        NumericsCategory,
        "Numerically sensitive layer forced to half precision",
        "'{0}' runs in half precision: {1}; mark it [KeepFp32] (norms, softmax and losses need fp32's range and precision)");

    /// <summary>Reported by the half-constant analyzer itself: {0} the constant, {1} the format, {2} its value there, {3} why, {4} the fix.</summary>
    public static readonly Rule HalfConstant = new(
        RuleIds.HalfConstant,
        RuleSeverity.Warning,
        NumericsCategory,
        "Constant that half precision cannot hold",
        "{0} reaches {1} code, where it becomes {2} ({3}): use {4}, or keep this computation in fp32");

    public static readonly Rule Fp16WithoutLossScaling = new(
        RuleIds.Fp16WithoutLossScaling,
        RuleSeverity.Warning,
        NumericsCategory,
        "fp16 layers without a [LossScaled] loss",
        "'{0}' has {1}: gradients below fp16's smallest subnormal (5.96e-8) underflow to zero; add a [LossScaled] method that returns the loss");

    public static readonly Rule LossNotTensor = new(
        RuleIds.LossNotTensor,
        RuleSeverity.Error,
        UsageCategory,
        "[LossScaled] method must return a Tensor",
        "[LossScaled] method '{0}' cannot be loss-scaled: {1}; return the scalar loss as a torch.Tensor");

    public static readonly Rule ForwardProblem = new(
        RuleIds.ForwardProblem,
        RuleSeverity.Error,
        UsageCategory,
        "Precision model needs exactly one matching [Forward] method",
        "'{0}' cannot get a generated forward: {1} (a precision model needs exactly one [Forward] method with the parameter and return types of its Module's forward)");

    public static readonly Rule UnknownLayerAnnotated = new(
        RuleIds.UnknownLayerAnnotated,
        RuleSeverity.Warning,
        NumericsCategory,
        "Annotated member is not a known layer type",
        "'{0}' is annotated, but {1}: the attribute has no effect on it; remove the attribute");

    public static readonly Rule Fp32OpPromoted = new(
        RuleIds.Fp32OpPromoted,
        RuleSeverity.Info,
        NumericsCategory,
        "fp32-list op in a half region runs in fp32",
        "{1}: the generator casts the input of '{0}' to fp32; nothing to change");

    public static readonly Rule ManualCast = new(
        RuleIds.ManualCast,
        RuleSeverity.Warning,
        UsageCategory,
        "Manual half-precision cast in forward code",
        "'{0}' casts to {1}: the generator decides each dtype from the attributes, so this cast fights it; remove the cast and annotate the layer instead");

    public static readonly Rule LossNotCallable = new(
        RuleIds.LossNotCallable,
        RuleSeverity.Warning,
        UsageCategory,
        "The generated training step cannot call the [LossScaled] method",
        "'{0}' leaves the model without its generated TrainStep, AccumulateGradients, ApplyGradients and CreateGradScaler: {1}");

    public static readonly Rule LayerTypeNotVisible = new(
        RuleIds.LayerTypeNotVisible,
        RuleSeverity.Warning,
        NumericsCategory,
        "Layer type of a Module<...> member is not visible",
        "'{0}' is declared as a Module base type and {1}: it runs in fp32 with its inputs cast to fp32; declare it with its concrete layer type (Conv2d, Linear, ...)");

    public static readonly Rule BaseForwardCall = new(
        RuleIds.BaseForwardCall,
        RuleSeverity.Error,
        UsageCategory,
        "[Forward] calls the generated forward of a base precision model",
        "'{0}' {1}, which is not supported yet: hold that model as a member and call it, or call the base's layers directly");

    public static readonly Rule UnknownLayerInHalfModel = new(
        RuleIds.UnknownLayerInHalfModel,
        RuleSeverity.Info,
        NumericsCategory,
        "Layer of a type the op policy does not know runs in fp32",
        "'{0}' runs in fp32 with its inputs cast to fp32 although the model's default is half: {1}");

    public static readonly Rule[] All =
    {
        NotPartial, NotAModule, ConflictingAttributes, SensitiveLayerInHalf, HalfConstant, Fp16WithoutLossScaling, LossNotTensor,
        ForwardProblem, UnknownLayerAnnotated, Fp32OpPromoted, ManualCast, LossNotCallable, LayerTypeNotVisible,
        BaseForwardCall, UnknownLayerInHalfModel,
    };

    private static readonly Dictionary<string, Rule> ById = All.ToDictionary(rule => rule.Id);

    /// <summary>The rule of an id; null for an id the catalogue does not know.</summary>
    public static Rule? Find(string ruleId) => ById.TryGetValue(ruleId, out var rule) ? rule : null;

    /// <summary>Error rules: a model with one of these gets only a throwing <c>forward</c>.</summary>
    public static bool IsError(string ruleId) => Find(ruleId)?.IsError == true;
}
