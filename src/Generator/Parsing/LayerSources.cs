using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Parsing;

/// <summary>
/// Reads, from the values written to a member (<see cref="MemberWrites"/>), what the declared type does not say:
/// the concrete layer behind a member declared as TorchSharp's <c>Module&lt;...&gt;</c>, and the layers inside a
/// container. Only what the source shows for certain; anything else is left to the run time.
/// </summary>
internal static class LayerSources
{
    // Containers nested deeper than this are listed as a row of their own, without their contents.
    private const int MaxDepth = 3;

    /// <summary>The one concrete module type of every value written to the member, or why there is none (PDSL013).</summary>
    public static (ITypeSymbol? Type, string? Why) ConcreteType(MemberWrites writes, CancellationToken cancellationToken)
    {
        if (writes.Untracked)
        {
            return (null, "it is assigned in a way the generator does not follow (ref/out argument, deconstruction or compound assignment)");
        }

        if (writes.Values.Count == 0)
        {
            return (null, "no value is assigned to it in its initializer or a constructor");
        }

        ITypeSymbol? found = null;
        foreach (var value in writes.Values)
        {
            var type = value.Model.GetTypeInfo(value.Value, cancellationToken).Type;
            if (type is null || SymbolFacts.ContainsErrorType(type) || !SymbolFacts.IsModule(type) || SymbolFacts.IsModuleBase(type))
            {
                var shown = type is null || SymbolFacts.ContainsErrorType(type) ? "" : $" of type {type.ToDisplayString()}";
                return (null, $"it is assigned '{Excerpt(value.Value)}'{shown}, which names no concrete layer type");
            }

            if (found is not null && !SymbolEqualityComparer.Default.Equals(found, type))
            {
                return (null, $"it is assigned layers of different types ({found.Name}, {type.Name})");
            }

            found = type;
        }

        return (found, null);
    }

    /// <summary>
    /// The layers inside a container member, when the source shows them: it is created once, from a TorchSharp
    /// factory or constructor whose arguments (and collection initializer) are the layers, and is otherwise only
    /// added to with Add/append in the constructor that creates it (or, for an initializer, in one constructor).
    /// Null when only the run time knows.
    /// </summary>
    public static EquatableArray<ContainedLayerSpec>? Contents(MemberWrites writes, Compilation compilation, CancellationToken cancellationToken)
    {
        if (writes.Untracked || writes.ElementsWritten || writes.Values.Count != 1
            || writes.Calls.Any(c => System.Array.IndexOf(TypeNames.ContainerEdits, c.Method) >= 0))
        {
            return null;
        }

        var source = writes.Values[0];
        var walk = new Walk(compilation, cancellationToken);
        var items = new List<ContainedLayerSpec>();
        var position = 0;
        if (!walk.AddCreated(source.Value, source.Model, "", items, ref position, 0))
        {
            return null;
        }

        var adds = writes.Calls.Where(c => System.Array.IndexOf(TypeNames.ContainerAdds, c.Method) >= 0).OrderBy(c => c.Call.SpanStart).ToArray();
        if (adds.Length > 0)
        {
            var constructor = source.IsInitializer ? adds[0].Constructor : source.Constructor;
            // An initializer runs before any constructor body; an assignment must come before the adds it is filled by.
            if (constructor is null || adds.Any(a => a.Constructor != constructor || (!source.IsInitializer && a.Call.SpanStart < source.Value.SpanStart)))
            {
                return null;
            }
        }

        var positionKnown = true;
        foreach (var add in adds)
        {
            positionKnown &= !add.Repeated;
            var arguments = add.Call.ArgumentList.Arguments;
            var added = arguments.Count switch
            {
                1 => walk.AddElement(arguments[0].Expression, add.Model, "", items, ref position, positionKnown, 0),
                2 => walk.AddNamed(arguments[0].Expression, arguments[1].Expression, add.Model, "", items, ref position, 0),
                _ => false,
            };
            if (!added || arguments.Any(a => a.NameColon is not null || !a.RefKindKeyword.IsKind(SyntaxKind.None)))
            {
                return null;
            }
        }

        return items.ToEquatableArray();
    }

    private static string Excerpt(ExpressionSyntax value)
    {
        var text = string.Join(" ", value.ToString().Split(new[] { '\r', '\n', ' ', '\t' }, System.StringSplitOptions.RemoveEmptyEntries));
        return text.Length <= 40 ? text : text.Substring(0, 37) + "...";
    }

    private static ExpressionSyntax Strip(ExpressionSyntax expression)
    {
        while (true)
        {
            switch (expression)
            {
                case ParenthesizedExpressionSyntax parenthesized:
                    expression = parenthesized.Expression;
                    break;
                case PostfixUnaryExpressionSyntax postfix when postfix.IsKind(SyntaxKind.SuppressNullableWarningExpression):
                    expression = postfix.Operand;
                    break;
                default:
                    return expression;
            }
        }
    }

    private sealed class Walk
    {
        private readonly Compilation compilation;
        private readonly CancellationToken cancellationToken;

        public Walk(Compilation compilation, CancellationToken cancellationToken)
        {
            this.compilation = compilation;
            this.cancellationToken = cancellationToken;
        }

        /// <summary>Adds the layers a container creation expression puts in it; false when it is no such expression.</summary>
        public bool AddCreated(ExpressionSyntax expression, SemanticModel model, string path, List<ContainedLayerSpec> items, ref int position, int depth)
        {
            expression = Strip(expression);
            if (!SymbolFacts.IsContainer(model.GetTypeInfo(expression, cancellationToken).Type))
            {
                return false;
            }

            var (arguments, initializer) = expression switch
            {
                // A TorchSharp factory (Sequential(...), ModuleList(...)); a user method hides what it builds.
                InvocationExpressionSyntax call when model.GetSymbolInfo(call, cancellationToken).Symbol is IMethodSymbol method && SymbolFacts.IsInTorchSharp(method) =>
                    (call.ArgumentList, null),
                BaseObjectCreationExpressionSyntax creation => (creation.ArgumentList, creation.Initializer),
                _ => ((ArgumentListSyntax?)null, (InitializerExpressionSyntax?)null),
            };
            if (arguments is null && initializer is null)
            {
                return false;
            }

            foreach (var argument in arguments?.Arguments ?? default)
            {
                if (argument.NameColon is not null || !argument.RefKindKeyword.IsKind(SyntaxKind.None)
                    || !AddElement(argument.Expression, model, path, items, ref position, positionKnown: true, depth))
                {
                    return false;
                }
            }

            if (initializer is null)
            {
                return true;
            }

            if (!initializer.IsKind(SyntaxKind.CollectionInitializerExpression))
            {
                return false;
            }

            foreach (var element in initializer.Expressions)
            {
                var added = element is InitializerExpressionSyntax { Expressions.Count: 2 } pair
                    ? AddNamed(pair.Expressions[0], pair.Expressions[1], model, path, items, ref position, depth)
                    : AddElement(element, model, path, items, ref position, positionKnown: true, depth);
                if (!added)
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>A layer, or a <c>("name", layer)</c> tuple; false for anything else (an array or list of layers).</summary>
        public bool AddElement(ExpressionSyntax expression, SemanticModel model, string path, List<ContainedLayerSpec> items, ref int position, bool positionKnown, int depth)
        {
            expression = Strip(expression);
            if (expression is TupleExpressionSyntax { Arguments.Count: 2 } tuple)
            {
                return AddNamed(tuple.Arguments[0].Expression, tuple.Arguments[1].Expression, model, path, items, ref position, depth);
            }

            var index = positionKnown ? "[" + position.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]" : "[*]";
            position++;
            return AddLayer(expression, model, path + index, items, depth);
        }

        public bool AddNamed(ExpressionSyntax name, ExpressionSyntax layer, SemanticModel model, string path, List<ContainedLayerSpec> items, ref int position, int depth)
        {
            position++;
            var key = model.GetConstantValue(name, cancellationToken) is { HasValue: true, Value: string text } ? "." + text : "[*]";
            return AddLayer(Strip(layer), model, path + key, items, depth);
        }

        private bool AddLayer(ExpressionSyntax expression, SemanticModel model, string path, List<ContainedLayerSpec> items, int depth)
        {
            var type = model.GetTypeInfo(expression, cancellationToken).Type;
            if (!SymbolFacts.IsModule(type))
            {
                return false;
            }

            if (SymbolFacts.IsModuleBase(type))
            {
                items.Add(new ContainedLayerSpec(path, "", false, false, ""));
                return true;
            }

            var spec = Describe(type!, path, "");
            items.Add(spec);
            var count = items.Count;
            var position = 0;
            if (SymbolFacts.IsContainer(type) && depth < MaxDepth && !AddCreated(expression, model, path, items, ref position, depth + 1))
            {
                // Its contents are not visible: the nested container stays one row.
                items.RemoveRange(count, items.Count - count);
            }

            if (spec.IsUserBlock && type is INamedTypeSymbol block)
            {
                AddBlockLayers(block, path, items);
            }

            return true;
        }

        /// <summary>One level of a user block's layer members (the run time walks into the block the same way).</summary>
        private void AddBlockLayers(INamedTypeSymbol block, string path, List<ContainedLayerSpec> items)
        {
            var members = block.GetMembers()
                .Where(m => !m.IsStatic && !m.IsImplicitlyDeclared && SyntaxFacts.IsValidIdentifier(m.Name) && m.Locations.Any(l => l.IsInSource))
                .Select(m => (Member: m, Type: m switch
                {
                    IFieldSymbol field => field.Type,
                    IPropertySymbol property => property.Type,
                    _ => null,
                }))
                .Where(m => SymbolFacts.IsModule(m.Type))
                .ToArray();
            var writes = MemberWrites.Collect(block, members.Where(m => SymbolFacts.IsModuleBase(m.Type)).Select(m => m.Member).ToArray(), compilation, cancellationToken);
            foreach (var (member, declared) in members)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var type = writes.TryGetValue(member, out var written) ? ConcreteType(written, cancellationToken).Type : declared;
                items.Add(type is null ? new ContainedLayerSpec(path + "." + member.Name, "", false, false, block.Name) : Describe(type, path + "." + member.Name, block.Name));
            }
        }

        private static ContainedLayerSpec Describe(ITypeSymbol type, string path, string block)
        {
            var isPrecisionModel = type is INamedTypeSymbol named && SymbolFacts.IsPrecisionModel(named);
            return new ContainedLayerSpec(path, SymbolFacts.MetadataName(type), isPrecisionModel, !isPrecisionModel && !SymbolFacts.IsInTorchSharp(type), block);
        }
    }
}
