using Microsoft.CodeAnalysis;

namespace PrecisionDsl.Generator.Diagnostics
{
    /// <summary>
    /// Every PrecisionDsl diagnostic. IDs are stable: once shipped (AnalyzerReleases.Shipped.md) an ID never
    /// changes meaning. Each message names the offending member or literal and says what to do.
    /// </summary>
    internal static class DiagnosticDescriptors
    {
        /// <summary>Where each rule's page lives (docs/diagnostics/PDSLxxx.md in the repository).</summary>
        internal const string HelpLinkBase = "https://github.com/PrecisionDsl/PrecisionDsl/blob/main/docs/diagnostics/";

        internal const string UsageCategory = "PrecisionDsl.Usage";
        internal const string NumericsCategory = "PrecisionDsl.Numerics";

        internal static readonly DiagnosticDescriptor NotPartial = Create(
            "PDSL001",
            "Precision model must be partial",
            "Precision model '{0}' cannot receive its generated forward: {1}; add the 'partial' modifier",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor NotAModule = Create(
            "PDSL002",
            "Precision model must derive from torch.nn.Module<...>",
            "'{0}' carries precision attributes but {1}: derive it from torch.nn.Module<T, TResult> (or Module<T1, T2, TResult>, ...) or remove the attributes",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor ConflictingAttributes = Create(
            "PDSL003",
            "Conflicting precision attributes",
            "'{0}' carries conflicting precision attributes ({1}): keep exactly one",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor SensitiveLayerInHalf = Create(
            "PDSL004",
            "Numerically sensitive layer forced to half precision",
            "'{0}' runs in half precision: {1}; mark it [KeepFp32] (norms, softmax and losses need fp32's range and precision)",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor ConstantOutOfHalfRange = Create(
            "PDSL005",
            "Constant that half precision cannot hold",
            "{0} reaches {1} code, where it becomes {2} ({3}): use {4}, or keep this computation in fp32",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor MissingLossScaling = Create(
            "PDSL006",
            "fp16 layers without a [LossScaled] loss",
            "'{0}' has {1}: gradients below fp16's smallest subnormal (5.96e-8) underflow to zero; add a [LossScaled] method that returns the loss",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor LossNotTensor = Create(
            "PDSL007",
            "[LossScaled] method must return a Tensor",
            "[LossScaled] method '{0}' cannot be loss-scaled: {1}; return the scalar loss as a torch.Tensor",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor MissingForward = Create(
            "PDSL008",
            "Precision model needs exactly one matching [Forward] method",
            "'{0}' cannot get a generated forward: {1} (a precision model needs exactly one [Forward] method with the parameter and return types of its Module's forward)",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor UnknownLayerType = Create(
            "PDSL009",
            "Annotated member is not a known layer type",
            "'{0}' is annotated, but {1}: the attribute has no effect on it; remove the attribute",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor Fp32OpPromoted = Create(
            "PDSL010",
            "fp32-list op in a half region runs in fp32",
            "{1}: the generator casts the input of '{0}' to fp32; nothing to change",
            NumericsCategory,
            DiagnosticSeverity.Info);

        internal static readonly DiagnosticDescriptor ManualCast = Create(
            "PDSL011",
            "Manual precision cast inside [Forward]",
            "'{0}' casts to {1} by hand inside [Forward]: the generator decides each dtype from the attributes, so this cast fights it; remove the cast and annotate the layer instead",
            UsageCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor LossNotCallable = Create(
            "PDSL012",
            "The generated training step cannot call the [LossScaled] method",
            "'{0}' gets no generated TrainStep or AccumulateGradients: {1}",
            UsageCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor LayerTypeNotVisible = Create(
            "PDSL013",
            "Layer type of a Module<...> member is not visible",
            "'{0}' is declared as a Module base type and {1}: it runs in fp32 with its inputs cast to fp32; declare it with its concrete layer type (Conv2d, Linear, ...)",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        /// <summary>The descriptor of a rule id the planner reports a problem under; null for an id it does not know.</summary>
        internal static DiagnosticDescriptor? ForRule(string ruleId) => ruleId switch
        {
            "PDSL001" => NotPartial,
            "PDSL002" => NotAModule,
            "PDSL003" => ConflictingAttributes,
            "PDSL004" => SensitiveLayerInHalf,
            "PDSL005" => ConstantOutOfHalfRange,
            "PDSL006" => MissingLossScaling,
            "PDSL007" => LossNotTensor,
            "PDSL008" => MissingForward,
            "PDSL009" => UnknownLayerType,
            "PDSL010" => Fp32OpPromoted,
            "PDSL011" => ManualCast,
            "PDSL012" => LossNotCallable,
            "PDSL013" => LayerTypeNotVisible,
            _ => null,
        };

        private static DiagnosticDescriptor Create(string id, string title, string messageFormat, string category, DiagnosticSeverity severity) =>
            new DiagnosticDescriptor(
                id,
                title,
                messageFormat,
                category,
                severity,
                isEnabledByDefault: true,
                description: null,
                helpLinkUri: HelpLinkBase + id + ".md");
    }
}
