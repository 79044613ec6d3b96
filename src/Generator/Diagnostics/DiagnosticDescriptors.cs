using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Diagnostics;

/// <summary>
/// The analyzers' descriptor of every rule, built from <see cref="RuleCatalog"/> (ids, severities and texts live
/// there). IDs are stable: once shipped (AnalyzerReleases.Shipped.md) an ID never changes meaning.
/// </summary>
internal static class DiagnosticDescriptors
{
    /// <summary>Where each rule's page lives (docs/diagnostics/PDSLxxx.md in the repository).</summary>
    internal const string HelpLinkBase = "https://github.com/PrecisionDsl/PrecisionDsl/blob/main/docs/diagnostics/";

    internal static readonly DiagnosticDescriptor NotPartial = Create(RuleIds.NotPartial);
    internal static readonly DiagnosticDescriptor NotAModule = Create(RuleIds.NotAModule);
    internal static readonly DiagnosticDescriptor ConflictingAttributes = Create(RuleIds.ConflictingAttributes);
    internal static readonly DiagnosticDescriptor SensitiveLayerInHalf = Create(RuleIds.SensitiveLayerInHalf);
    internal static readonly DiagnosticDescriptor ConstantOutOfHalfRange = Create(RuleIds.HalfConstant);
    internal static readonly DiagnosticDescriptor MissingLossScaling = Create(RuleIds.Fp16WithoutLossScaling);
    internal static readonly DiagnosticDescriptor LossNotTensor = Create(RuleIds.LossNotTensor);
    internal static readonly DiagnosticDescriptor MissingForward = Create(RuleIds.ForwardProblem);
    internal static readonly DiagnosticDescriptor UnknownLayerType = Create(RuleIds.UnknownLayerAnnotated);
    internal static readonly DiagnosticDescriptor Fp32OpPromoted = Create(RuleIds.Fp32OpPromoted);
    internal static readonly DiagnosticDescriptor ManualCast = Create(RuleIds.ManualCast);
    internal static readonly DiagnosticDescriptor LossNotCallable = Create(RuleIds.LossNotCallable);
    internal static readonly DiagnosticDescriptor LayerTypeNotVisible = Create(RuleIds.LayerTypeNotVisible);
    internal static readonly DiagnosticDescriptor BaseForwardCall = Create(RuleIds.BaseForwardCall);
    internal static readonly DiagnosticDescriptor UnknownLayerInHalfModel = Create(RuleIds.UnknownLayerInHalfModel);

    private static readonly Dictionary<string, DiagnosticDescriptor> ById = new[]
    {
        NotPartial, NotAModule, ConflictingAttributes, SensitiveLayerInHalf, ConstantOutOfHalfRange, MissingLossScaling, LossNotTensor,
        MissingForward, UnknownLayerType, Fp32OpPromoted, ManualCast, LossNotCallable, LayerTypeNotVisible, BaseForwardCall,
        UnknownLayerInHalfModel,
    }.ToDictionary(descriptor => descriptor.Id);

    /// <summary>The descriptor of a rule id the planner reports a problem under; null for an id it does not know.</summary>
    internal static DiagnosticDescriptor? ForRule(string ruleId) => ById.TryGetValue(ruleId, out var descriptor) ? descriptor : null;

    private static DiagnosticDescriptor Create(string id) => Create(id, RuleCatalog.Find(id)!);

    private static DiagnosticDescriptor Create(string id, Rule rule) =>
        new DiagnosticDescriptor(
            id,
            rule.Title,
            rule.MessageFormat,
            rule.Category,
            rule.Severity switch
            {
                RuleSeverity.Error => DiagnosticSeverity.Error,
                RuleSeverity.Warning => DiagnosticSeverity.Warning,
                _ => DiagnosticSeverity.Info,
            },
            isEnabledByDefault: true,
            description: null,
            helpLinkUri: HelpLinkBase + rule.Id + ".md");
}
