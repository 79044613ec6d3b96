using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.CodeFixes;

/// <summary>PDSL004: replaces the <c>[Fp16]</c>/<c>[Bf16]</c> on a sensitive layer with <c>[KeepFp32]</c>.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UseKeepFp32CodeFixProvider)), Shared]
public sealed class UseKeepFp32CodeFixProvider : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(RuleIds.SensitiveLayerInHalf);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var attribute = root?.FindNode(context.Span, getInnermostNodeForTie: true).FirstAncestorOrSelf<AttributeSyntax>();
        if (attribute is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            context.RegisterCodeFix(
                CodeAction.Create("Use [KeepFp32]", token => DocumentEdits.ReplaceNodeAsync(context.Document, attribute, PrecisionAttributeSyntax.ToKeepFp32(attribute), token), equivalenceKey: RuleIds.SensitiveLayerInHalf),
                diagnostic);
        }
    }
}
