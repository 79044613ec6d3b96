using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Emitting;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Parsing;
using PrecisionDsl.Generator.Planning;

namespace PrecisionDsl.Generator;

/// <summary>
/// Emits the mixed-precision <c>forward</c>, master-weight state, precision plan and training step of every
/// precision model. Pipeline: one <c>ForAttributeWithMetadataName</c> per PrecisionDsl attribute → parse the
/// containing class into a <see cref="ModelSpec"/> → merge and de-duplicate per class → plan → emit.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class PrecisionGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var fp16 = Targets(context, TypeNames.Fp16Attribute, TrackingNames.Fp16Targets);
        var bf16 = Targets(context, TypeNames.Bf16Attribute, TrackingNames.Bf16Targets);
        var keepFp32 = Targets(context, TypeNames.KeepFp32Attribute, TrackingNames.KeepFp32Targets);
        var forward = Targets(context, TypeNames.ForwardAttribute, TrackingNames.ForwardTargets);
        var lossScaled = Targets(context, TypeNames.LossScaledAttribute, TrackingNames.LossScaledTargets);

        var models = fp16.Collect()
            .Combine(bf16.Collect())
            .Combine(keepFp32.Collect())
            .Combine(forward.Collect())
            .Combine(lossScaled.Collect())
            .Select(static (all, _) => Distinct(all.Left.Left.Left.Left, all.Left.Left.Left.Right, all.Left.Left.Right, all.Left.Right, all.Right))
            .WithTrackingName(TrackingNames.Models);

        var plans = models
            .SelectMany(static (all, _) => all)
            .Select(static (model, cancellationToken) => PrecisionPlanner.Plan(model, cancellationToken))
            .WithTrackingName(TrackingNames.Plans);

        context.RegisterSourceOutput(plans, static (output, plan) =>
        {
            if (ModelEmitter.Emit(plan) is { } source)
            {
                output.AddSource(ModelEmitter.HintName(plan.Model), source);
            }
        });
    }

    private static IncrementalValuesProvider<ModelSpec> Targets(IncrementalGeneratorInitializationContext context, string attribute, string trackingName) =>
        context.SyntaxProvider
            .ForAttributeWithMetadataName(
                attribute,
                static (node, _) => node is TypeDeclarationSyntax or VariableDeclaratorSyntax or PropertyDeclarationSyntax or MethodDeclarationSyntax,
                static (context, cancellationToken) => ParseContainingModel(context, cancellationToken))
            .Where(static model => model is not null)
            .Select(static (model, _) => model!)
            .WithTrackingName(trackingName);

    /// <summary>
    /// Parses the class of an attribute target. A class is found once per attribute it carries; only its first
    /// attributed symbol parses it, so a model with many annotated members is parsed once per run, not once per
    /// attribute.
    /// </summary>
    private static ModelSpec? ParseContainingModel(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var type = context.TargetSymbol as INamedTypeSymbol ?? context.TargetSymbol.ContainingType;
        if (type is null || !SymbolEqualityComparer.Default.Equals(SymbolFacts.FirstAttributedSymbol(type), context.TargetSymbol))
        {
            return null;
        }

        return ModelParser.Parse(type, context.SemanticModel.Compilation, cancellationToken);
    }

    /// <summary>One model per class (a class is found once per attribute it carries), in a stable order.</summary>
    private static EquatableArray<ModelSpec> Distinct(params ImmutableArray<ModelSpec>[] found) =>
        found.SelectMany(models => models)
            .GroupBy(model => model.FullName)
            .Select(group => group.First())
            .OrderBy(model => model.FullName, System.StringComparer.Ordinal)
            .ToEquatableArray();
}
