using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Parsing;

/// <summary>
/// Reads the facts the liveness pass needs from a <c>[Forward]</c> block (<see cref="BodyLiveness"/>): its outermost
/// statements, and for each tensor local they declare every use (does the reference escape?) and every value written
/// (could it be an object someone else holds?). Anything it does not recognise counts as an escape or an unknown
/// value, which only ever keeps a tensor alive longer.
/// </summary>
internal sealed class LivenessParser
{
    private readonly SemanticModel semanticModel;
    private readonly IReadOnlyList<ExprNode> nodes;
    private readonly IReadOnlyDictionary<SyntaxNode, int> nodeOf;
    private readonly Dictionary<int, SyntaxNode> syntaxOf;
    private readonly int textStart;
    private readonly CancellationToken cancellationToken;
    private readonly Dictionary<ILocalSymbol, int> tracked = new(SymbolEqualityComparer.Default);

    private LivenessParser(SemanticModel semanticModel, IReadOnlyList<ExprNode> nodes, IReadOnlyDictionary<SyntaxNode, int> nodeOf, int textStart, CancellationToken cancellationToken)
    {
        this.semanticModel = semanticModel;
        this.nodes = nodes;
        this.nodeOf = nodeOf;
        syntaxOf = nodeOf.ToDictionary(pair => pair.Value, pair => pair.Key);
        this.textStart = textStart;
        this.cancellationToken = cancellationToken;
    }

    public static BodyLiveness Read(BlockSyntax body, SemanticModel semanticModel, IReadOnlyList<ExprNode> nodes, IReadOnlyDictionary<SyntaxNode, int> nodeOf, CancellationToken cancellationToken)
    {
        // With jumps, statement order is not execution order.
        if (body.DescendantNodes().Any(n => n is GotoStatementSyntax or LabeledStatementSyntax))
        {
            return BodyLiveness.None;
        }

        return new LivenessParser(semanticModel, nodes, nodeOf, body.SpanStart, cancellationToken).ReadBlock(body);
    }

    private BodyLiveness ReadBlock(BlockSyntax body)
    {
        var statements = body.Statements;
        var declared = new List<(VariableDeclaratorSyntax Declarator, int Statement, bool IsUsing)>();
        for (var s = 0; s < statements.Count; s++)
        {
            if (statements[s] is LocalDeclarationStatementSyntax { IsConst: false } declaration)
            {
                foreach (var declarator in declaration.Declaration.Variables)
                {
                    if (semanticModel.GetDeclaredSymbol(declarator, cancellationToken) is ILocalSymbol local && SymbolFacts.IsTensor(local.Type))
                    {
                        tracked[local] = declared.Count;
                        declared.Add((declarator, s, !declaration.UsingKeyword.IsKind(SyntaxKind.None)));
                    }
                }
            }
        }

        var uses = declared.Select(_ => new List<LocalUse>()).ToArray();
        var values = declared.Select(_ => new List<LocalValue>()).ToArray();
        for (var i = 0; i < declared.Count; i++)
        {
            if (declared[i].Declarator.Initializer is { } initializer)
            {
                values[i].Add(ValueOf(initializer.Value, declared[i].Statement));
            }
        }

        for (var s = 0; s < statements.Count; s++)
        {
            foreach (var identifier in statements[s].DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (semanticModel.GetSymbolInfo(identifier, cancellationToken).Symbol is ILocalSymbol local && tracked.TryGetValue(local, out var index))
                {
                    Record(identifier, s, uses[index], values[index]);
                }
            }
        }

        var locals = declared.Select((d, i) => new TrackedLocal(
            d.Declarator.Identifier.Text, d.Statement, d.IsUsing, d.Declarator.Initializer is not null, uses[i].ToEquatableArray(), values[i].ToEquatableArray()));
        return new BodyLiveness(statements.Select(Statement).ToEquatableArray(), locals.ToEquatableArray());
    }

    private void Record(IdentifierNameSyntax identifier, int statement, List<LocalUse> uses, List<LocalValue> values)
    {
        var captured = identifier.Ancestors().TakeWhile(a => a is not BlockSyntax { Parent: BaseMethodDeclarationSyntax })
            .Any(a => a is AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax);
        var outer = Outermost(identifier);
        if (outer.Parent is AssignmentExpressionSyntax assignment && assignment.Left == outer)
        {
            values.Add(assignment.IsKind(SyntaxKind.SimpleAssignmentExpression) ? ValueOf(assignment.Right, statement) : Unknown(statement));
            if (captured)
            {
                uses.Add(new LocalUse(statement, UseKind.Escape));
            }

            return;
        }

        // A deconstruction, ref/out argument or ++/-- writes it in a way not followed here.
        if (outer.Parent is TupleExpressionSyntax or ArgumentSyntax { Parent: TupleExpressionSyntax } || outer.Parent is ArgumentSyntax { RefKindKeyword.RawKind: not (int)SyntaxKind.None })
        {
            values.Add(Unknown(statement));
        }

        uses.Add(new LocalUse(statement, captured ? UseKind.Escape : UseOf(outer)));
    }

    /// <summary>The expression a reference's value flows out of unchanged: through parentheses, <c>!</c>, casts and the branches of <c>?:</c> and <c>??</c>.</summary>
    private static ExpressionSyntax Outermost(ExpressionSyntax expression)
    {
        while (true)
        {
            switch (expression.Parent)
            {
                case ParenthesizedExpressionSyntax parent:
                    expression = parent;
                    break;
                case PostfixUnaryExpressionSyntax parent when parent.IsKind(SyntaxKind.SuppressNullableWarningExpression):
                    expression = parent;
                    break;
                case CastExpressionSyntax parent:
                    expression = parent;
                    break;
                case ConditionalExpressionSyntax parent when parent.Condition != expression:
                    expression = parent;
                    break;
                case BinaryExpressionSyntax parent when parent.IsKind(SyntaxKind.CoalesceExpression):
                    expression = parent;
                    break;
                default:
                    return expression;
            }
        }
    }

    private UseKind UseOf(ExpressionSyntax outer)
    {
        switch (outer.Parent)
        {
            case MemberAccessExpressionSyntax access when access.Expression == outer:
                return OpPolicy.TakesOwnership(access.Name.Identifier.ValueText) ? UseKind.Escape
                    : access.Parent is InvocationExpressionSyntax call && call.Expression == access && MayReturnInput(call) ? ResultUse(call)
                    : UseKind.Read;
            case ConditionalAccessExpressionSyntax access when access.Expression == outer:
                return access.WhenNotNull is InvocationExpressionSyntax { Expression: MemberBindingExpressionSyntax binding } && OpPolicy.TakesOwnership(binding.Name.Identifier.ValueText)
                    ? UseKind.Escape
                    : UseKind.Read;
            case ElementAccessExpressionSyntax access when access.Expression == outer:
            case BinaryExpressionSyntax binary when !binary.IsKind(SyntaxKind.AsExpression):
            case PrefixUnaryExpressionSyntax:
            case IsPatternExpressionSyntax:
            case ReturnStatementSyntax:
                return UseKind.Read;
            case ArgumentSyntax argument when argument.RefKindKeyword.IsKind(SyntaxKind.None):
                return argument.Parent?.Parent is not ExpressionSyntax receiving || !KeepsNoReference(receiving) ? UseKind.Escape
                    : receiving is InvocationExpressionSyntax invocation && MayReturnInput(invocation) ? ResultUse(invocation)
                    : UseKind.Read;
            case InitializerExpressionSyntax { Parent: ArrayCreationExpressionSyntax or ImplicitArrayCreationExpressionSyntax } initializer:
                return UseOfCollection((ExpressionSyntax)initializer.Parent!);
            case ExpressionElementSyntax { Parent: CollectionExpressionSyntax collection }:
                return UseOfCollection(collection);
            default:
                return UseKind.Escape;
        }
    }

    /// <summary>
    /// The use of a call's input when the call may return that input object: where the result goes. Into a tracked
    /// local it is followed as that local's value (<see cref="Follow"/>), so the input is only read.
    /// </summary>
    private UseKind ResultUse(InvocationExpressionSyntax call)
    {
        var outer = Outermost(call);
        var intoTrackedLocal = outer == call && outer.Parent switch
        {
            EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax declarator } =>
                semanticModel.GetDeclaredSymbol(declarator, cancellationToken) is ILocalSymbol local && tracked.ContainsKey(local),
            AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax target } assignment when assignment.Right == outer =>
                semanticModel.GetSymbolInfo(target, cancellationToken).Symbol is ILocalSymbol local && tracked.ContainsKey(local),
            _ => false,
        };
        return intoTrackedLocal ? UseKind.Read : UseOf(outer);
    }

    /// <summary>
    /// Whether a call may return one of its tensor inputs as the same object: a TorchSharp layer (Identity, an in-place
    /// activation), an op that may return its receiver, anything with an <c>inplace</c> parameter, the runtime's casts.
    /// </summary>
    private bool MayReturnInput(InvocationExpressionSyntax call)
    {
        if (semanticModel.GetSymbolInfo(call, cancellationToken).Symbol is not IMethodSymbol method)
        {
            return true;
        }

        if (method.Name is TypeNames.ModuleCall or TypeNames.ModuleForward && SymbolFacts.IsModule(method.ContainingType))
        {
            return call.Expression is not MemberAccessExpressionSyntax access || OpPolicy.LayerMayReturnInput(LayerType(access.Expression));
        }

        return OpPolicy.MayReturnReceiver(method.Name)
            || method.Parameters.Any(p => p.Name == InplaceParameter)
            || IsRuntime(method);
    }

    private const string InplaceParameter = "inplace";

    /// <summary>An array or collection literal is only read when it is passed straight to TorchSharp (<c>torch.cat(new[] { a, b })</c>).</summary>
    private UseKind UseOfCollection(ExpressionSyntax collection) =>
        Outermost(collection).Parent is ArgumentSyntax { Parent.Parent: InvocationExpressionSyntax call } argument
        && argument.RefKindKeyword.IsKind(SyntaxKind.None) && KeepsNoReference(call)
            ? UseKind.Read
            : UseKind.Escape;

    /// <summary>A call that reads its tensor arguments without keeping them: TorchSharp, the runtime, a TorchSharp layer, an indexer of a tensor.</summary>
    private bool KeepsNoReference(ExpressionSyntax call)
    {
        switch (call)
        {
            case InvocationExpressionSyntax invocation:
                var method = semanticModel.GetSymbolInfo(invocation, cancellationToken).Symbol as IMethodSymbol;
                if (method is null)
                {
                    return false;
                }

                return method.Name is TypeNames.ModuleCall or TypeNames.ModuleForward && SymbolFacts.IsModule(method.ContainingType)
                    ? invocation.Expression is MemberAccessExpressionSyntax access && IsTorchSharpLayer(access.Expression)
                    : IsTensorFunction(method) || IsRuntime(method) || IsMath(method);
            case ElementAccessExpressionSyntax element:
                return SymbolFacts.IsTensor(semanticModel.GetTypeInfo(element.Expression, cancellationToken).Type);
            default:
                return false;
        }
    }

    private bool IsTorchSharpLayer(ExpressionSyntax receiver) => OpPolicy.IsTorchSharpLayer(LayerType(receiver));

    private string LayerType(ExpressionSyntax receiver) => SymbolFacts.MetadataName(semanticModel.GetTypeInfo(receiver, cancellationToken).Type);

    /// <summary>
    /// A tensor method or a function of <c>torch</c> (functional, linalg...): reads its tensors and returns new ones or
    /// its receiver. Not modules (<c>register_buffer</c> stores), dispose scopes (<c>MoveToOuter</c> hands a tensor
    /// on), optimizers or data utilities.
    /// </summary>
    private static bool IsTensorFunction(IMethodSymbol method)
    {
        var type = SymbolFacts.MetadataName(method.ContainingType);
        return (type == TypeNames.TorchClass || type.StartsWith(TypeNames.TorchClass + "+", System.StringComparison.Ordinal))
            && !SymbolFacts.IsModule(method.ContainingType)
            && !TypeNames.TorchNonTensorPrefixes.Any(prefix => type.StartsWith(prefix, System.StringComparison.Ordinal));
    }

    private static bool IsRuntime(IMethodSymbol method) => method.ContainingNamespace?.ToDisplayString() == "PrecisionDsl";

    private static bool IsMath(IMethodSymbol method) =>
        method.ContainingType?.ToDisplayString() is "System.Math" or "System.MathF";

    private static LocalValue Unknown(int statement) => new(statement, ValueOrigin.Unknown, EquatableArray<int>.Empty);

    /// <summary>Where a value written to a tracked local comes from, following layers and ops that may return an input.</summary>
    private LocalValue ValueOf(ExpressionSyntax value, int statement)
    {
        var mayBe = new List<int>();
        var known = nodeOf.TryGetValue(Strip(value), out var node) && Follow(node, mayBe);
        return !known ? Unknown(statement)
            : mayBe.Count == 0 ? new LocalValue(statement, ValueOrigin.Fresh, EquatableArray<int>.Empty)
            : new LocalValue(statement, ValueOrigin.MayBeInput, mayBe.Distinct().OrderBy(i => i).ToEquatableArray());
    }

    /// <summary>Adds the tracked locals a node's result may be; false when it may be a tensor held outside the forward's locals.</summary>
    private bool Follow(int index, List<int> mayBe)
    {
        var node = nodes[index];
        switch (node.Kind)
        {
            case ExprKind.Operator:
                return true;
            case ExprKind.Op when syntaxOf[index] is InvocationExpressionSyntax call
                && semanticModel.GetSymbolInfo(call, cancellationToken).Symbol is IMethodSymbol method && !IsTensorFunction(method):
                return false; // a TorchSharp method that may hand back a tensor it was given (DisposeScope.MoveToOuter)
            case ExprKind.Op when !OpPolicy.MayReturnReceiver(node.Name) && !HasInplaceParameter(index):
                return true;
            case ExprKind.LayerCall when syntaxOf[index] is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax access } && IsTorchSharpLayer(access.Expression):
                return !OpPolicy.LayerMayReturnInput(LayerType(access.Expression)) || node.Inputs.All(input => Follow(input, mayBe));
            case ExprKind.Op:
            case ExprKind.Join:
                return node.Inputs.All(input => Follow(input, mayBe));
            case ExprKind.Local when semanticModel.GetSymbolInfo(syntaxOf[index], cancellationToken).Symbol is ILocalSymbol local && tracked.TryGetValue(local, out var other):
                mayBe.Add(other);
                return true;
            default:
                return false;
        }
    }

    private bool HasInplaceParameter(int index) =>
        syntaxOf[index] is not InvocationExpressionSyntax call
        || semanticModel.GetSymbolInfo(call, cancellationToken).Symbol is not IMethodSymbol method
        || method.Parameters.Any(p => p.Name == InplaceParameter);

    private TopStatement Statement(StatementSyntax statement)
    {
        var span = Relative(statement.Span);
        var endReachable = EndReachable(statement);
        switch (statement)
        {
            case LocalDeclarationStatementSyntax { IsConst: false, UsingKeyword.RawKind: (int)SyntaxKind.None, Declaration.Variables.Count: 1 } declaration
                when declaration.Modifiers.Count == 0 && declaration.Declaration.Variables[0] is { Initializer: { } initializer } declarator
                && semanticModel.GetDeclaredSymbol(declarator, cancellationToken) is ILocalSymbol local && tracked.TryGetValue(local, out var index):
                return new TopStatement(span, endReachable, index, true, Relative(TextSpan.FromBounds(statement.SpanStart, initializer.Value.SpanStart)),
                    Relative(initializer.Value.Span), local.Type.ToDisplayString(SymbolFacts.FullyQualified), IsClosed(initializer.Value));
            case ExpressionStatementSyntax { Expression: AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax target } assignment }
                when semanticModel.GetSymbolInfo(target, cancellationToken).Symbol is ILocalSymbol local && tracked.TryGetValue(local, out var index):
                return new TopStatement(span, endReachable, index, false, Relative(TextSpan.FromBounds(statement.SpanStart, assignment.Right.SpanStart)),
                    Relative(assignment.Right.Span), "", IsClosed(assignment.Right));
            default:
                return new TopStatement(span, endReachable, -1, false, default, default, "", false);
        }
    }

    private bool EndReachable(StatementSyntax statement)
    {
        try
        {
            var flow = semanticModel.AnalyzeControlFlow(statement);
            return flow is { Succeeded: true, EndPointIsReachable: true };
        }
        catch (System.ArgumentException)
        {
            return false; // not analysable: nothing is inserted after it
        }
    }

    /// <summary>See <see cref="TopStatement.ValueIsClosed"/>.</summary>
    private bool IsClosed(ExpressionSyntax value)
    {
        if (!nodeOf.ContainsKey(Strip(value)) || !SymbolFacts.IsTensor(semanticModel.GetTypeInfo(value, cancellationToken).Type))
        {
            return false;
        }

        foreach (var node in value.DescendantNodesAndSelf())
        {
            cancellationToken.ThrowIfCancellationRequested();
            switch (node)
            {
                case AnonymousFunctionExpressionSyntax or AssignmentExpressionSyntax or DeclarationExpressionSyntax or VariableDesignationSyntax
                    or AwaitExpressionSyntax or ThrowExpressionSyntax or QueryExpressionSyntax or StackAllocArrayCreationExpressionSyntax
                    or BaseObjectCreationExpressionSyntax or AnonymousObjectCreationExpressionSyntax or WithExpressionSyntax or RefExpressionSyntax:
                    return false;
                case ArgumentSyntax argument when !argument.RefKindKeyword.IsKind(SyntaxKind.None):
                    return false;
                case InvocationExpressionSyntax invocation when !KeepsNoReference(invocation):
                    return false;
                case IdentifierNameSyntax identifier when semanticModel.GetSymbolInfo(identifier, cancellationToken).Symbol is IPropertySymbol property
                    && !SymbolFacts.IsInTorchSharp(property):
                    return false; // a user property may create and cache a tensor
            }
        }

        return true;
    }

    private TextSpan Relative(TextSpan span) => new(span.Start - textStart, span.Length);

    private static ExpressionSyntax Strip(ExpressionSyntax expression)
    {
        while (expression is ParenthesizedExpressionSyntax parenthesized)
        {
            expression = parenthesized.Expression;
        }

        return expression;
    }
}
