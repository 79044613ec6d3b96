using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.CodeFixes;

/// <summary>
/// PDSL013: declares a <c>Module&lt;...&gt;</c> member with the TorchSharp layer type of its initializer
/// (<c>Module&lt;Tensor, Tensor&gt; conv = Conv2d(...)</c> → <c>Conv2d conv = ...</c>). Offered only when every
/// other value assigned to the member in its class converts to that type, so the edit always compiles.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(DeclareLayerTypeCodeFixProvider)), Shared]
public sealed class DeclareLayerTypeCodeFixProvider : CodeFixProvider
{
    private const string LayerNamespace = "TorchSharp.Modules";

    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(RuleIds.LayerTypeNotVisible);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        var (declaredType, initializer) = root?.FindToken(context.Span.Start).Parent switch
        {
            // One variable per declaration: the type is shared by every variable of it.
            VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax { Variables.Count: 1 } declaration } variable => (declaration.Type, variable.Initializer?.Value),
            PropertyDeclarationSyntax property => (property.Type, property.Initializer?.Value),
            _ => (null, null),
        };
        if (model is null || declaredType is null || initializer is null
            || model.GetDeclaredSymbol(root!.FindToken(context.Span.Start).Parent!, context.CancellationToken) is not { } member
            || model.GetTypeInfo(initializer, context.CancellationToken).Type is not INamedTypeSymbol layer
            || layer.ContainingNamespace?.ToDisplayString() != LayerNamespace
            || !OtherValuesConvert(member, layer, model.Compilation, context.CancellationToken))
        {
            return;
        }

        var shown = layer.ToMinimalDisplayString(model, declaredType.SpanStart);
        TypeSyntax replacement = SyntaxFactory.ParseTypeName(shown);
        if (declaredType is NullableTypeSyntax)
        {
            replacement = SyntaxFactory.NullableType(replacement);
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            context.RegisterCodeFix(
                CodeAction.Create(
                    $"Declare '{member.Name}' as {shown}",
                    token => DocumentEdits.ReplaceNodeAsync(context.Document, declaredType, replacement.WithTriviaFrom(declaredType), token),
                    equivalenceKey: RuleIds.LayerTypeNotVisible),
                diagnostic);
        }
    }

    /// <summary>Whether every <c>member = value</c> in the member's class still compiles once the member has type <paramref name="layer"/>.</summary>
    private static bool OtherValuesConvert(ISymbol member, ITypeSymbol layer, Compilation compilation, CancellationToken cancellationToken)
    {
        foreach (var declaration in member.ContainingType.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)))
        {
            var model = compilation.GetSemanticModel(declaration.SyntaxTree);
            foreach (var assignment in declaration.DescendantNodes().OfType<AssignmentExpressionSyntax>())
            {
                if (SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(assignment.Left, cancellationToken).Symbol, member)
                    && !(assignment.IsKind(SyntaxKind.SimpleAssignmentExpression) && model.ClassifyConversion(assignment.Right, layer).IsImplicit))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
