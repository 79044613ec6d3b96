using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace PrecisionDsl.Generator.Model;

/// <summary>
/// A source location as plain data (a <see cref="Location"/> holds the syntax tree, which would pin
/// the compilation in the incremental cache).
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo? From(Location? location)
    {
        if (location is null || location.SourceTree is null)
        {
            return null;
        }

        return new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
    }

    public static LocationInfo? From(SyntaxNode? node) => node is null ? null : From(node.GetLocation());

    public static LocationInfo? From(SyntaxToken token) => From(token.GetLocation());

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public bool Contains(string filePath, TextSpan span) => FilePath == filePath && Span.Contains(span);
}
