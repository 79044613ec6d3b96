using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.CodeFixes;

/// <summary>PDSL009: removes the precision attribute that has no effect on the member.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveAttributeCodeFixProvider)), Shared]
public sealed class RemoveAttributeCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(RuleIds.UnknownLayerAnnotated);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var attribute = root?.FindNode(context.Span, getInnermostNodeForTie: true).FirstAncestorOrSelf<AttributeSyntax>();
        var declaration = attribute is null ? null : PrecisionAttributeSyntax.OwningDeclaration(attribute);
        if (attribute is null || declaration is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            context.RegisterCodeFix(
                CodeAction.Create("Remove [" + attribute.Name + "]", token => DocumentEdits.ReplaceNodeAsync(
                    context.Document, declaration, PrecisionAttributeSyntax.RemoveAttributes(declaration, new[] { attribute }), token), equivalenceKey: RuleIds.UnknownLayerAnnotated),
                diagnostic);
        }
    }
}
