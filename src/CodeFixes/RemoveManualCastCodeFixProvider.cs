using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Diagnostics;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.CodeFixes;

/// <summary>PDSL011: replaces <c>x.half()</c> / <c>x.to(float16)</c> with <c>x</c>.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveManualCastCodeFixProvider)), Shared]
public sealed class RemoveManualCastCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(RuleIds.ManualCast);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            // Only when the call passes nothing but the dtype: dropping `.to(float16, device)` would also drop the move.
            if (root is null || !diagnostic.Properties.ContainsKey(DiagnosticProperties.Removable))
            {
                continue;
            }

            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            var invocation = node.FirstAncestorOrSelf<InvocationExpressionSyntax>();
            if (invocation?.Expression is not MemberAccessExpressionSyntax memberAccess)
            {
                continue;
            }

            var title = "Remove the manual cast '" + memberAccess.Name.Identifier.ValueText + "'";
            context.RegisterCodeFix(
                CodeAction.Create(title, token => DocumentEdits.ReplaceNodeAsync(
                    context.Document, invocation, memberAccess.Expression.WithTriviaFrom(invocation), token), equivalenceKey: RuleIds.ManualCast),
                diagnostic);
        }
    }
}
