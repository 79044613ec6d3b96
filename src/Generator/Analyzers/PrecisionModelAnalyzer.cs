using System;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using PrecisionDsl.Generator.Diagnostics;
using PrecisionDsl.Generator.Parsing;
using PrecisionDsl.Generator.Planning;

namespace PrecisionDsl.Generator.Analyzers;

/// <summary>
/// Reports the planner's model-level problems: the shape of a precision model (PDSL001 partial, PDSL002
/// Module base, PDSL003 conflicting attributes, PDSL007 loss type, PDSL008 [Forward]) and its precision
/// decisions (PDSL004 sensitive layer in half, PDSL006 no loss scaling, PDSL009 unknown layer, PDSL010
/// fp32-list op promoted, PDSL011 manual half cast in the [Forward] body or a rewritten helper, PDSL012 loss
/// the training step cannot call, PDSL013 layer type not visible, PDSL014 base.forward of a base precision model,
/// PDSL015 unannotated layer of an unknown type in a half model). The generator asks the same planner, so a
/// diagnostic and the generated code never disagree — an error here is exactly a model the generator gives only a throwing forward.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PrecisionModelAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.NotPartial,
        DiagnosticDescriptors.NotAModule,
        DiagnosticDescriptors.ConflictingAttributes,
        DiagnosticDescriptors.SensitiveLayerInHalf,
        DiagnosticDescriptors.MissingLossScaling,
        DiagnosticDescriptors.LossNotTensor,
        DiagnosticDescriptors.MissingForward,
        DiagnosticDescriptors.UnknownLayerType,
        DiagnosticDescriptors.Fp32OpPromoted,
        DiagnosticDescriptors.ManualCast,
        DiagnosticDescriptors.LossNotCallable,
        DiagnosticDescriptors.LayerTypeNotVisible,
        DiagnosticDescriptors.BaseForwardCall,
        DiagnosticDescriptors.UnknownLayerInHalfModel);

    private static readonly ImmutableDictionary<string, string?> RemovableCast =
        ImmutableDictionary<string, string?>.Empty.Add(DiagnosticProperties.Removable, "true");

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.TryCreate(start.Compilation) is null)
            {
                return;
            }

            var locations = new SourceLocations(start.Compilation);
            start.RegisterSymbolAction(symbolContext => AnalyzeType(symbolContext, locations), SymbolKind.NamedType);
        });
    }

    private void AnalyzeType(SymbolAnalysisContext context, SourceLocations locations)
    {
        if (context.Symbol is not INamedTypeSymbol type || !SymbolFacts.IsPrecisionModel(type))
        {
            return;
        }

        try
        {
            var plan = PrecisionAnalysis.Analyze(type, context.Compilation, context.CancellationToken);
            if (plan is null)
            {
                return;
            }

            foreach (var problem in plan.Problems)
            {
                var descriptor = DiagnosticDescriptors.ForRule(problem.RuleId);
                if (descriptor is not null && SupportedDiagnostics.Contains(descriptor))
                {
                    var location = problem.RuleId == DiagnosticDescriptors.Fp32OpPromoted.Id
                        ? locations.ToCalleeLocation(problem.Location)
                        : locations.ToLocation(problem.Location);
                    var properties = problem.Removable ? RemovableCast : ImmutableDictionary<string, string?>.Empty;
                    context.ReportDiagnostic(Diagnostic.Create(descriptor, location, properties, problem.Subject, problem.Detail));
                }
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // An analyzer must never throw into the host (AD0001 on every keystroke); the generator,
            // asking the same planner, falls back the same way and the build still compiles.
        }
    }
}
