using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Analyzers
{
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
    }
}
