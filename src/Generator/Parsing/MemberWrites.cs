using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PrecisionDsl.Generator.Parsing;

/// <summary>A value written to a member: its initializer, or the right side of <c>member = value</c>.</summary>
/// <param name="Constructor">The instance constructor the write is in; null for an initializer or a write in another member.</param>
internal sealed record MemberValue(ExpressionSyntax Value, SemanticModel Model, ConstructorDeclarationSyntax? Constructor, bool IsInitializer);

/// <summary>A call of a method on the member (<c>blocks.Add(...)</c>, <c>this.features.append(...)</c>).</summary>
/// <param name="Repeated">Inside a loop, branch, lambda or local function: it may run any number of times, or not at all.</param>
internal sealed record MemberCall(InvocationExpressionSyntax Call, string Method, SemanticModel Model, ConstructorDeclarationSyntax? Constructor, bool Repeated);

/// <summary>
/// Where the module a member holds comes from: every value written to it and every method called on it in its
/// class. The parser reads the concrete layer behind a base-typed member from it, and what a container holds.
/// </summary>
internal sealed class MemberWrites
{
    public List<MemberValue> Values { get; } = new();

    public List<MemberCall> Calls { get; } = new();

    /// <summary>Written in a way that is not followed (ref/out argument, deconstruction, compound or ??= assignment).</summary>
    public bool Untracked { get; private set; }

    /// <summary>An element is assigned through the indexer (<c>blocks[0] = ...</c>).</summary>
    public bool ElementsWritten { get; private set; }

    /// <summary>The writes and calls of every member in <paramref name="members"/>, from one walk over the class's declarations.</summary>
    public static Dictionary<ISymbol, MemberWrites> Collect(INamedTypeSymbol type, IReadOnlyCollection<ISymbol> members, Compilation compilation, CancellationToken cancellationToken)
    {
        var result = new Dictionary<ISymbol, MemberWrites>(SymbolEqualityComparer.Default);
        if (members.Count == 0)
        {
            return result;
        }

        foreach (var member in members)
        {
            var writes = new MemberWrites();
            foreach (var reference in member.DeclaringSyntaxReferences)
            {
                var syntax = reference.GetSyntax(cancellationToken);
                var value = syntax switch
                {
                    VariableDeclaratorSyntax variable => variable.Initializer?.Value,
                    PropertyDeclarationSyntax property => property.Initializer?.Value ?? property.ExpressionBody?.Expression
                        ?? property.AccessorList?.Accessors.FirstOrDefault(a => a.IsKind(SyntaxKind.GetAccessorDeclaration))?.ExpressionBody?.Expression,
                    _ => null,
                };
                if (value is not null && compilation.ContainsSyntaxTree(value.SyntaxTree))
                {
                    writes.Values.Add(new MemberValue(value, compilation.GetSemanticModel(value.SyntaxTree), null, IsInitializer: true));
                }
            }

            result[member] = writes;
        }

        var names = new HashSet<string>(members.Select(m => m.Name));
        foreach (var declaration in type.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<TypeDeclarationSyntax>())
        {
            if (!compilation.ContainsSyntaxTree(declaration.SyntaxTree))
            {
                continue;
            }

            var model = compilation.GetSemanticModel(declaration.SyntaxTree);
            foreach (var identifier in declaration.DescendantNodes(node => node == declaration || node is not BaseTypeDeclarationSyntax).OfType<IdentifierNameSyntax>())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (names.Contains(identifier.Identifier.ValueText) && Reference(identifier) is { } reference
                    && model.GetSymbolInfo(reference, cancellationToken).Symbol is { } symbol
                    && result.TryGetValue(symbol.OriginalDefinition, out var writes))
                {
                    writes.Add(reference, model);
                }
            }
        }

        return result;
    }

    /// <summary><c>x</c> or <c>this.x</c>; null for <c>other.x</c> (another object's member).</summary>
    private static ExpressionSyntax? Reference(IdentifierNameSyntax identifier) => identifier.Parent switch
    {
        MemberAccessExpressionSyntax access when access.Name == identifier =>
            access.Expression is ThisExpressionSyntax ? access : null,
        _ => identifier,
    };

    private void Add(ExpressionSyntax reference, SemanticModel model)
    {
        switch (reference.Parent)
        {
            case AssignmentExpressionSyntax assignment when assignment.Left == reference:
                if (assignment.IsKind(SyntaxKind.SimpleAssignmentExpression))
                {
                    Values.Add(new MemberValue(assignment.Right, model, Constructor(assignment), IsInitializer: false));
                }
                else
                {
                    Untracked = true;
                }

                break;
            case ArgumentSyntax argument when argument.RefKindKeyword.IsKind(SyntaxKind.RefKeyword) || argument.RefKindKeyword.IsKind(SyntaxKind.OutKeyword)
                || argument.Parent is TupleExpressionSyntax:
                // A tuple holding the member is written only as the left side of a deconstruction; reading one is harmless.
                Untracked |= argument.Parent is not TupleExpressionSyntax || IsDeconstructionTarget(argument.Parent);
                break;
            case ElementAccessExpressionSyntax element when element.Expression == reference:
                ElementsWritten |= element.Parent is AssignmentExpressionSyntax target && target.Left == element;
                break;
            case MemberAccessExpressionSyntax access when access.Expression == reference && access.Parent is InvocationExpressionSyntax call && call.Expression == access:
                Calls.Add(new MemberCall(call, access.Name.Identifier.ValueText, model, Constructor(call), Repeated(call)));
                break;
        }
    }

    private static bool IsDeconstructionTarget(SyntaxNode tuple)
    {
        for (var node = tuple; node.Parent is { } parent; node = parent)
        {
            if (parent is AssignmentExpressionSyntax assignment)
            {
                return assignment.Left == node;
            }

            if (parent is not (ArgumentSyntax or TupleExpressionSyntax))
            {
                return false;
            }
        }

        return false;
    }

    private static ConstructorDeclarationSyntax? Constructor(SyntaxNode node) =>
        node.FirstAncestorOrSelf<ConstructorDeclarationSyntax>() is { } constructor && !constructor.Modifiers.Any(SyntaxKind.StaticKeyword) ? constructor : null;

    private static bool Repeated(SyntaxNode node) =>
        node.Ancestors()
            .TakeWhile(a => a is not MemberDeclarationSyntax)
            .Any(a => a is ForStatementSyntax or CommonForEachStatementSyntax or WhileStatementSyntax or DoStatementSyntax
                or IfStatementSyntax or SwitchSectionSyntax or ConditionalExpressionSyntax
                or AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax);
}
