using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.CodeFixes;

/// <summary>PDSL003: one fix per conflicting precision attribute, "Keep [X]", removing the others.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(KeepOneAttributeCodeFixProvider)), Shared]
public sealed class KeepOneAttributeCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(RuleIds.ConflictingAttributes);

    /// <inheritdoc/>
    public override FixAllProvider? GetFixAllProvider() => null;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        var node = root?.FindNode(context.Span, getInnermostNodeForTie: true);
        var declaration = node is null ? null : PrecisionAttributeSyntax.OwningDeclaration(node);
        if (declaration is null || model is null)
        {
            return;
        }

        var attributes = PrecisionAttributeSyntax.Find(declaration, model);
        foreach (var kind in attributes.Select(a => a.MetadataName).Distinct())
        {
            var others = attributes.Where(a => a.MetadataName != kind).Select(a => a.Attribute).ToList();
            var duplicates = attributes.Where(a => a.MetadataName == kind).Skip(1).Select(a => a.Attribute);
            var doomed = new HashSet<AttributeSyntax>(others.Concat(duplicates));
            var shortName = PrecisionAttributeSyntax.ShortName(kind);
            foreach (var diagnostic in context.Diagnostics)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Keep [" + shortName + "]", token => DocumentEdits.ReplaceNodeAsync(
                        context.Document, declaration, PrecisionAttributeSyntax.RemoveAttributes(declaration, doomed), token), equivalenceKey: RuleIds.ConflictingAttributes + "." + shortName),
                    diagnostic);
            }
        }
    }
}
