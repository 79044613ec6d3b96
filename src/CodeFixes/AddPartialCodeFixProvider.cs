using System.Collections.Immutable;
using System.Composition;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PrecisionDsl.CodeFixes
{
    /// <summary>PDSL001: adds the <c>partial</c> modifier to the precision model's declaration.</summary>
    [ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddPartialCodeFixProvider)), Shared]
    public sealed class AddPartialCodeFixProvider : CodeFixProvider
    {
        /// <inheritdoc/>
        public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("PDSL001");

        /// <inheritdoc/>
        public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

        /// <inheritdoc/>
        public override async Task RegisterCodeFixesAsync(CodeFixContext context)
        {
            var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
            var declaration = root?.FindToken(context.Span.Start).Parent?.FirstAncestorOrSelf<TypeDeclarationSyntax>();
            if (declaration is null || declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                return;
            }

            foreach (var diagnostic in context.Diagnostics)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Add 'partial'", token => AddPartialAsync(context.Document, declaration, token), equivalenceKey: "PDSL001"),
                    diagnostic);
            }
        }

        private static async Task<Document> AddPartialAsync(Document document, TypeDeclarationSyntax declaration, CancellationToken cancellationToken)
        {
            var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            if (root is null)
            {
                return document;
            }

            // `partial` goes right before the keyword; with no modifiers it takes over the keyword's indentation.
            var partial = SyntaxFactory.Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(SyntaxFactory.Space);
            TypeDeclarationSyntax updated;
            if (declaration.Modifiers.Count == 0)
            {
                partial = partial.WithLeadingTrivia(declaration.Keyword.LeadingTrivia);
                updated = declaration
                    .WithKeyword(declaration.Keyword.WithLeadingTrivia(SyntaxFactory.TriviaList()))
                    .WithModifiers(SyntaxFactory.TokenList(partial));
            }
            else
            {
                updated = declaration.WithModifiers(declaration.Modifiers.Add(partial));
            }

            return document.WithSyntaxRoot(root.ReplaceNode(declaration, updated));
        }
    }
}
