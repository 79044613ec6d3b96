using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Analyzers;

/// <summary>
/// Turns the planner's <see cref="LocationInfo"/> (a file path and span, kept as data) back into a location
/// in the compilation's own syntax tree, so the IDE squiggles it and suppressions apply to it.
/// </summary>
internal sealed class SourceLocations
{
    private readonly Dictionary<string, SyntaxTree> trees = new();

    public SourceLocations(Compilation compilation)
    {
        foreach (var tree in compilation.SyntaxTrees)
        {
            trees[tree.FilePath] = tree;
        }
    }

    public Location ToLocation(LocationInfo info) =>
        trees.TryGetValue(info.FilePath, out var tree) && info.Span.End <= tree.Length
            ? Location.Create(tree, info.Span)
            : info.ToLocation();

    /// <summary>
    /// For a call, just the name of what is called (<c>functional.{|log_softmax|}(...)</c>): the whole call
    /// would underline every nested layer call inside its arguments too.
    /// </summary>
    public Location ToCalleeLocation(LocationInfo info)
    {
        var location = ToLocation(info);
        if (location.SourceTree?.GetRoot().FindNode(location.SourceSpan, getInnermostNodeForTie: true) is InvocationExpressionSyntax invocation)
        {
            var name = invocation.Expression switch
            {
                MemberAccessExpressionSyntax access => access.Name,
                MemberBindingExpressionSyntax binding => binding.Name,
                SimpleNameSyntax simple => simple,
                _ => null,
            };
            if (name is not null)
            {
                return Location.Create(location.SourceTree, name.Span);
            }
        }

        return location;
    }
}
