using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;

namespace PrecisionDsl.CodeFixes;

/// <summary>The document edits the code fixes share.</summary>
internal static class DocumentEdits
{
    /// <summary>The document with <paramref name="node"/> replaced by <paramref name="replacement"/>.</summary>
    public static async Task<Document> ReplaceNodeAsync(Document document, SyntaxNode node, SyntaxNode replacement, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        return root is null ? document : document.WithSyntaxRoot(root.ReplaceNode(node, replacement));
    }
}
