using System.Collections.Immutable;
using System.Composition;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Diagnostics;

namespace PrecisionDsl.CodeFixes
{
    /// <summary>PDSL011: replaces <c>x.half()</c> / <c>x.to(float16)</c> with <c>x</c>.</summary>
    [ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveManualCastCodeFixProvider)), Shared]
    public sealed class RemoveManualCastCodeFixProvider : CodeFixProvider
    {
        /// <inheritdoc/>
        public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("PDSL011");

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
                    CodeAction.Create(title, token => RemoveAsync(context.Document, invocation, memberAccess, token), equivalenceKey: "PDSL011"),
                    diagnostic);
            }
        }

        private static async Task<Document> RemoveAsync(Document document, InvocationExpressionSyntax invocation,
            MemberAccessExpressionSyntax memberAccess, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            if (root is null)
            {
                return document;
            }

            var receiver = memberAccess.Expression.WithTriviaFrom(invocation);
            return document.WithSyntaxRoot(root.ReplaceNode(invocation, receiver));
        }
    }
}
