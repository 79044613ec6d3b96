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
            "Precision model '{0}' is not partial: the generator cannot add its forward; add the 'partial' modifier",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor NotAModule = Create(
            "PDSL002",
            "Precision model must derive from torch.nn.Module<...>",
            "'{0}' carries precision attributes but does not derive from torch.nn.Module<...>: derive from Module<T, TResult> (or Module<T1, T2, TResult>) or remove the attributes",
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
            "'{0}' is a {1}, whose statistics and reductions lose accuracy in {2}, but it is marked [{3}]: mark it [KeepFp32]",
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
            "'{0}' runs layers in fp16 ({1}) but has no [LossScaled] loss method: small gradients underflow to zero in fp16; add a [LossScaled] method that returns the loss",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor LossNotTensor = Create(
            "PDSL007",
            "[LossScaled] method must return a Tensor",
            "[LossScaled] method '{0}' returns '{1}': it must return the scalar loss as a torch.Tensor",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor MissingForward = Create(
            "PDSL008",
            "Precision model needs exactly one matching [Forward] method",
            "Precision model '{0}' {1}",
            UsageCategory,
            DiagnosticSeverity.Error);

        internal static readonly DiagnosticDescriptor UnknownLayerType = Create(
            "PDSL009",
            "Annotated member is not a known layer type",
            "'{0}' is marked [{1}] but its type '{2}' is not a layer PrecisionDsl knows: it runs in fp32 with its inputs cast to fp32; remove the attribute or use a known layer type",
            NumericsCategory,
            DiagnosticSeverity.Warning);

        internal static readonly DiagnosticDescriptor Fp32OpPromoted = Create(
            "PDSL010",
            "fp32-list op in a half region runs in fp32",
            "'{0}' runs in fp32 although its input is {1}: the generator casts the input to fp32 (op policy)",
            NumericsCategory,
            DiagnosticSeverity.Info);

        internal static readonly DiagnosticDescriptor ManualCast = Create(
            "PDSL011",
            "Manual precision cast inside [Forward]",
            "'{0}' casts to {1} by hand inside [Forward]: the generator decides each dtype from the attributes, so this cast fights it; remove the cast and annotate the layer instead",
            UsageCategory,
            DiagnosticSeverity.Warning);

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
