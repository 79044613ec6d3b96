using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Parsing;

/// <summary>
/// Reads a <c>[Forward]</c> body into a <see cref="ForwardBody"/>: its text, and every tensor expression in
/// it as an <see cref="ExprNode"/> whose inputs are the places a cast may go. Nodes are stored children
/// first, so a node's inputs always have smaller indices.
/// </summary>
internal sealed class ForwardBodyParser
{
    private readonly SemanticModel semanticModel;
    private readonly INamedTypeSymbol modelType;
    private readonly HashSet<string> memberNames;
    private readonly int textStart;
    private readonly CancellationToken cancellationToken;
    private readonly List<ExprNode> nodes = new();
    private readonly Dictionary<SyntaxNode, int> nodeOf = new();
    private readonly Dictionary<ILocalSymbol, int> localOf = new(SymbolEqualityComparer.Default);
    private readonly List<(string Name, List<int> Assigned, bool Untracked)> locals = new();
    private readonly List<TextSpan> returns = new();
    private readonly List<TextSpan> helperCalls = new();
    private readonly List<RoutedCall> routedCalls = new();
    private readonly List<TextSpan> layerForwardNames = new();
    private readonly List<ManualCast> manualCasts = new();
    private readonly List<BaseForwardCall> baseForwardCalls = new();
    private readonly List<TextSpan> statementValues = new();
    private readonly HelperCollector helpers;

    private ForwardBodyParser(SemanticModel semanticModel, INamedTypeSymbol modelType, HashSet<string> memberNames, int textStart, HelperCollector helpers, CancellationToken cancellationToken)
    {
        this.semanticModel = semanticModel;
        this.modelType = modelType;
        this.memberNames = memberNames;
        this.textStart = textStart;
        this.helpers = helpers;
        this.cancellationToken = cancellationToken;
    }

    public static ForwardBody? Parse(MethodDeclarationSyntax method, SemanticModel semanticModel, INamedTypeSymbol modelType, IEnumerable<MemberSpec> members, CancellationToken cancellationToken)
    {
        var memberNames = new HashSet<string>(members.Where(m => m.IsModule && !m.IsStatic).Select(m => m.Name));
        var helpers = new HelperCollector(semanticModel, modelType, memberNames, cancellationToken);
        var parser = Create(method, semanticModel, modelType, memberNames, helpers, cancellationToken);
        if (parser is null)
        {
            return null;
        }

        if (method.Body is not null)
        {
            parser.CollectReturns(method.Body);
        }

        var body = (SyntaxNode?)method.Body ?? method.ExpressionBody!.Expression;

        var root = method.SyntaxTree.GetRoot(cancellationToken) as CompilationUnitSyntax;
        var fileDirectives = root is null
            ? new List<SyntaxNode>()
            : root.Externs.Cast<SyntaxNode>().Concat(root.Usings.Where(u => !u.GlobalKeyword.IsKind(SyntaxKind.GlobalKeyword))).ToList();
        var namespaceDirectives = method.Ancestors().OfType<BaseNamespaceDeclarationSyntax>().Reverse().SelectMany(n => n.Usings).ToList();
        // The generated file repeats these directives: one with errors would repeat them there.
        if (fileDirectives.Concat(namespaceDirectives).Any(d => d.ContainsDiagnostics
            || semanticModel.GetDiagnostics(d.Span, cancellationToken).Any(e => e.Severity == DiagnosticSeverity.Error)))
        {
            return null;
        }

        var fileUsings = fileDirectives.Select(d => d.ToString());
        var namespaceUsings = namespaceDirectives.Select(d => d.ToString());

        return new ForwardBody(
            method.SyntaxTree.FilePath,
            body.SpanStart,
            body.ToString(),
            method.Body is null,
            NullableContextAt(semanticModel, body.SpanStart),
            fileUsings.ToEquatableArray(),
            namespaceUsings.ToEquatableArray(),
            parser.nodes.ToEquatableArray(),
            parser.locals.Select(l => new LocalSpec(l.Name, l.Assigned.ToEquatableArray(), l.Untracked)).ToEquatableArray(),
            parser.returns.ToEquatableArray(),
            parser.helperCalls.ToEquatableArray(),
            parser.routedCalls.ToEquatableArray(),
            parser.layerForwardNames.ToEquatableArray(),
            parser.manualCasts.ToEquatableArray(),
            parser.baseForwardCalls.ToEquatableArray(),
            helpers.Helpers.ToEquatableArray(),
            method.Body is null ? BodyLiveness.None : LivenessParser.Read(method.Body, semanticModel, parser.nodes, parser.nodeOf, cancellationToken),
            parser.statementValues.ToEquatableArray());
    }

    /// <summary>The <c>#nullable</c> directive that recreates the context at <paramref name="position"/>.</summary>
    private static string NullableContextAt(SemanticModel semanticModel, int position)
    {
        var context = semanticModel.GetNullableContext(position);
        var annotations = context.AnnotationsEnabled();
        var warnings = context.WarningsEnabled();
        return annotations && warnings ? "enable"
            : annotations ? "enable annotations"
            : warnings ? "enable warnings"
            : "disable";
    }

    /// <summary>A parser that has walked the method's body, or null when the body is missing or does not compile.</summary>
    private static ForwardBodyParser? Create(MethodDeclarationSyntax method, SemanticModel semanticModel, INamedTypeSymbol modelType, HashSet<string> memberNames, HelperCollector helpers, CancellationToken cancellationToken)
    {
        SyntaxNode? body = (SyntaxNode?)method.Body ?? method.ExpressionBody?.Expression;
        // A body that does not compile is not copied: the generated file would repeat the user's errors.
        if (body is null || body.ContainsDiagnostics
            || semanticModel.GetDiagnostics(body.Span, cancellationToken).Any(d => d.Severity == DiagnosticSeverity.Error && !CallsGeneratedBaseForward(d, modelType, cancellationToken)))
        {
            return null;
        }

        var parser = new ForwardBodyParser(semanticModel, modelType, memberNames, body.SpanStart, helpers, cancellationToken);
        parser.Walk(body);
        return parser;
    }

    /// <summary>
    /// CS0205 on <c>base.forward(...)</c> where a base precision model gets a generated forward: an error only here,
    /// where that forward does not exist yet, so it must not hide the call; the call itself is PDSL014.
    /// </summary>
    private static bool CallsGeneratedBaseForward(Diagnostic diagnostic, INamedTypeSymbol modelType, CancellationToken cancellationToken)
    {
        if (diagnostic.Id != "CS0205" || diagnostic.Location.SourceTree is not { } tree)
        {
            return false;
        }

        var node = tree.GetRoot(cancellationToken).FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
        return node.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault() is
            { Expression: MemberAccessExpressionSyntax { Expression: BaseExpressionSyntax, Name.Identifier.ValueText: TypeNames.ModuleForward } }
            && SymbolFacts.BaseWithGeneratedForward(modelType) is not null;
    }

    /// <summary>Whether the body does anything the planner acts on (a layer call, a policy op, a rewritten helper).</summary>
    private bool NeedsRewrite => helperCalls.Count > 0 || nodes.Any(n =>
        n.Kind is ExprKind.LayerCall or ExprKind.UnknownModuleCall
        || (n.Kind == ExprKind.Op && OpPolicy.CategoryOf(n.Name) is OpCategory.Half or OpCategory.Fp32 or OpCategory.Promote));

    private ForwardBody ToHelperBody(MethodDeclarationSyntax method, SyntaxNode body) => new(
        method.SyntaxTree.FilePath,
        body.SpanStart,
        body.ToString(),
        method.Body is null,
        NullableContextAt(semanticModel, body.SpanStart),
        EquatableArray<string>.Empty,
        EquatableArray<string>.Empty,
        nodes.ToEquatableArray(),
        locals.Select(l => new LocalSpec(l.Name, l.Assigned.ToEquatableArray(), l.Untracked)).ToEquatableArray(),
        EquatableArray<TextSpan>.Empty,
        helperCalls.ToEquatableArray(),
        routedCalls.ToEquatableArray(),
        layerForwardNames.ToEquatableArray(),
        manualCasts.ToEquatableArray(),
        baseForwardCalls.ToEquatableArray(),
        EquatableArray<HelperSpec>.Empty,
        BodyLiveness.None,
        statementValues.ToEquatableArray());

    /// <summary>
    /// Finds, parses and remembers the model's helper methods reachable from the forward body. A helper is
    /// rewritten when it calls layers or policy ops (directly or through another helper); recursion stops at
    /// a helper already being parsed.
    /// </summary>
    private sealed class HelperCollector
    {
        private readonly SemanticModel semanticModel;
        private readonly INamedTypeSymbol modelType;
        private readonly HashSet<string> memberNames;
        private readonly CancellationToken cancellationToken;
        private readonly Dictionary<IMethodSymbol, bool> rewritten = new(SymbolEqualityComparer.Default);

        public HelperCollector(SemanticModel semanticModel, INamedTypeSymbol modelType, HashSet<string> memberNames, CancellationToken cancellationToken)
        {
            this.semanticModel = semanticModel;
            this.modelType = modelType;
            this.memberNames = memberNames;
            this.cancellationToken = cancellationToken;
        }

        public List<HelperSpec> Helpers { get; } = new();

        public bool Rewrites(IMethodSymbol method)
        {
            method = method.OriginalDefinition;
            if (rewritten.TryGetValue(method, out var known))
            {
                return known;
            }

            rewritten[method] = false;
            if (Declaration(method) is not { } declaration
                || Create(declaration, semanticModel, modelType, memberNames, this, cancellationToken) is not { } parser
                || !parser.NeedsRewrite)
            {
                return false;
            }

            var body = (SyntaxNode?)declaration.Body ?? declaration.ExpressionBody!.Expression;
            var signature = declaration.ReturnType + " __Pdsl" + declaration.Identifier.ValueText
                + declaration.TypeParameterList + declaration.ParameterList
                + string.Concat(declaration.ConstraintClauses.Select(c => " " + c));
            Helpers.Add(new HelperSpec(method.Name, signature, method.ReturnsVoid, parser.ToHelperBody(declaration, body)));
            rewritten[method] = true;
            return true;
        }

        /// <summary>The declaration of a plain, non-attributed method of the model in the forward's file, or null.</summary>
        private MethodDeclarationSyntax? Declaration(IMethodSymbol method)
        {
            // Static helpers cannot reach the model's layers or its half dtypes: they stay as written.
            if (method.MethodKind != MethodKind.Ordinary || method.IsStatic || method.IsAsync || method.ReturnsByRef || method.ReturnsByRefReadonly
                || method.IsExtern || method.IsAbstract || method.IsPartialDefinition || method.Name == TypeNames.ModuleForward
                || !SymbolEqualityComparer.Default.Equals(method.ContainingType?.OriginalDefinition, modelType.OriginalDefinition)
                || method.GetAttributes().Any(a => SymbolFacts.IsAttribute(a, TypeNames.ForwardAttribute) || SymbolFacts.IsAttribute(a, TypeNames.LossScaledAttribute))
                || method.DeclaringSyntaxReferences.Length != 1)
            {
                return null;
            }

            return method.DeclaringSyntaxReferences[0].GetSyntax(cancellationToken) is MethodDeclarationSyntax declaration
                && declaration.SyntaxTree == semanticModel.SyntaxTree
                && !declaration.DescendantNodes().Any(n => n is YieldStatementSyntax)
                ? declaration
                : null;
        }
    }

    private void Walk(SyntaxNode node)
    {
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var child in node.ChildNodes())
        {
            Walk(child);
        }

        RecordAssignments(node);
        RecordStatementValue(node);
        if (node is ExpressionSyntax expression and not ParenthesizedExpressionSyntax)
        {
            Classify(expression);
        }
    }

    private void Classify(ExpressionSyntax expression)
    {
        if (SyntaxFacts.IsInTypeOnlyContext(expression) || (expression is TypeSyntax && semanticModel.GetSymbolInfo(expression, cancellationToken).Symbol is ITypeSymbol))
        {
            return; // 'var', 'Tensor' in declarations and casts: types, not values
        }

        var type = semanticModel.GetTypeInfo(expression, cancellationToken).Type;
        var isTensor = SymbolFacts.IsTensor(type);
        switch (expression)
        {
            case InvocationExpressionSyntax invocation:
                ClassifyInvocation(invocation, isTensor);
                break;
            case MemberAccessExpressionSyntax access when !IsInvokedName(access) && isTensor:
                Add(IsTensorExpression(access.Expression) ? ExprKind.Op : ExprKind.Opaque, expression, access.Name.Identifier.ValueText, Inputs(access.Expression));
                break;
            case ElementAccessExpressionSyntax element when isTensor:
                Add(IsTensorExpression(element.Expression) ? ExprKind.Op : ExprKind.Opaque, expression, "index", Inputs(element.Expression));
                break;
            case BinaryExpressionSyntax binary when isTensor && binary.IsKind(SyntaxKind.CoalesceExpression):
                Add(ExprKind.Join, expression, "??", Inputs(binary.Left, binary.Right));
                break;
            case BinaryExpressionSyntax binary when isTensor:
                Add(ExprKind.Operator, expression, binary.OperatorToken.Text, Inputs(binary.Left, binary.Right));
                break;
            case PostfixUnaryExpressionSyntax suppress when isTensor && suppress.IsKind(SyntaxKind.SuppressNullableWarningExpression):
                Add(ExprKind.Join, expression, "!", Inputs(suppress.Operand));
                break;
            case PrefixUnaryExpressionSyntax unary when isTensor:
                Add(ExprKind.Operator, expression, unary.OperatorToken.Text, Inputs(unary.Operand));
                break;
            case ConditionalExpressionSyntax conditional when isTensor:
                Add(ExprKind.Join, expression, "?:", Inputs(conditional.WhenTrue, conditional.WhenFalse));
                break;
            case IdentifierNameSyntax identifier when isTensor && !IsInvokedName(identifier) && !IsAssignmentTarget(identifier) && !IsMemberName(identifier):
                ClassifyIdentifier(identifier);
                break;
            case AssignmentExpressionSyntax:
            case DeclarationExpressionSyntax:
                break;
            default:
                if (isTensor && !IsMemberName(expression))
                {
                    Add(ExprKind.Opaque, expression, "", new List<int>());
                }

                break;
        }
    }

    private void ClassifyInvocation(InvocationExpressionSyntax invocation, bool isTensor)
    {
        var symbolInfo = semanticModel.GetSymbolInfo(invocation, cancellationToken);
        var method = symbolInfo.Symbol as IMethodSymbol ?? symbolInfo.CandidateSymbols.OfType<IMethodSymbol>().FirstOrDefault();
        var receiver = invocation.Expression is MemberAccessExpressionSyntax access ? access.Expression : null;
        var arguments = invocation.ArgumentList.Arguments.Where(a => a.RefKindKeyword.IsKind(SyntaxKind.None)).ToArray();
        if (method is null)
        {
            if (isTensor)
            {
                Add(ExprKind.Opaque, invocation, "", new List<int>());
            }

            return;
        }

        if (method.Name is TypeNames.ModuleCall or TypeNames.ModuleForward && receiver is not null && SymbolFacts.IsModule(method.ContainingType))
        {
            var inputs = Inputs(arguments.Select(a => a.Expression).ToArray());
            // Abstract here, generated in the build: the same call in the generator's and the analyzers' view.
            if (method.Name == TypeNames.ModuleForward && receiver is BaseExpressionSyntax && (method.IsAbstract || SymbolFacts.IsGenerated(method))
                && SymbolFacts.BaseWithGeneratedForward(modelType) is { } baseModel)
            {
                baseForwardCalls.Add(new BaseForwardCall(OneLine(invocation.ToString()), baseModel.Name, LocationInfo.From(invocation.GetLocation())!));
            }

            if (ResolveLayer(receiver) is { } layer)
            {
                Add(ExprKind.LayerCall, invocation, layer.Member, inputs, layer.ElementType, isTensor);
                if (method.Name == TypeNames.ModuleForward && invocation.Expression is MemberAccessExpressionSyntax { Name: var forwardName }
                    && HasMatchingCall(semanticModel.GetTypeInfo(receiver, cancellationToken).Type, method))
                {
                    layerForwardNames.Add(new TextSpan(forwardName.SpanStart - textStart, forwardName.Span.Length));
                }
            }
            else
            {
                var moduleType = semanticModel.GetTypeInfo(receiver, cancellationToken).Type;
                Add(ExprKind.UnknownModuleCall, invocation, SymbolFacts.MetadataName(moduleType), inputs, SymbolFacts.MetadataName(moduleType), isTensor);
            }

            return;
        }

        if (helpers.Rewrites(method) && NameOf(invocation.Expression) is { } name)
        {
            helperCalls.Add(new TextSpan(name.SpanStart - textStart, 0));
        }

        if (!isTensor)
        {
            return;
        }

        if (!SymbolFacts.IsInTorchSharp(method))
        {
            Add(ExprKind.Opaque, invocation, method.Name, new List<int>());
            return;
        }

        var opInputs = new List<int>();
        var collections = new List<TextSpan>();
        if (receiver is not null && !method.IsStatic && IsTensorExpression(receiver))
        {
            opInputs.AddRange(Inputs(receiver));
        }

        foreach (var argument in arguments)
        {
            opInputs.AddRange(Inputs(argument.Expression));
            var elements = CollectionElements(argument.Expression);
            if (elements.Length > 0)
            {
                opInputs.AddRange(Inputs(elements));
                collections.Add(Relative(argument.Expression.Span));
            }
        }

        var explicitDtype = arguments.Any(a => SymbolFacts.IsScalarType(semanticModel.GetTypeInfo(a.Expression, cancellationToken).Type));
        Add(ExprKind.Op, invocation, method.Name, opInputs, explicitDtype: explicitDtype, collections: collections);
        RecordRoute(invocation, method);
        RecordManualCast(invocation, method);
    }

    /// <summary>
    /// Records a hand-written cast of a tensor (<c>x.half()</c>, <c>x.to(ScalarType.BFloat16)</c>,
    /// <c>x.to(type: torch.float16)</c>) with the dtype it casts to, which the compiler matched to the parameter.
    /// </summary>
    private void RecordManualCast(InvocationExpressionSyntax invocation, IMethodSymbol method)
    {
        if (method.IsStatic || !SymbolFacts.IsTensor(method.ContainingType) || invocation.Expression is not MemberAccessExpressionSyntax access
            || semanticModel.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation)
        {
            return;
        }

        CastDtype target;
        if (OpPolicy.FixedCastTarget(method.Name) is { } fixedTarget && operation.Arguments.All(a => a.ArgumentKind != ArgumentKind.Explicit))
        {
            target = fixedTarget;
        }
        else if (OpPolicy.CastsToDtypeArgument(method.Name)
            && operation.Arguments.FirstOrDefault(a => SymbolFacts.IsScalarType(a.Parameter?.Type)) is { ArgumentKind: ArgumentKind.Explicit } dtype)
        {
            target = CastTarget(dtype.Value);
        }
        else
        {
            return; // a device move (`to(device)`), type_as, or a conversion to an integer type
        }

        // Only the dtype passed (enum-typed arguments: the dtype, a memory format): removing the call changes nothing else.
        var onlyDtype = operation.Arguments.All(a => a.ArgumentKind != ArgumentKind.Explicit || a.Parameter?.Type.TypeKind == TypeKind.Enum);
        var span = TextSpan.FromBounds(access.Name.SpanStart, invocation.Span.End);
        manualCasts.Add(new ManualCast(OneLine(invocation.ToString()), target, onlyDtype, LocationInfo.From(Location.Create(invocation.SyntaxTree, span))!));
    }

    /// <summary>
    /// The dtype a <c>ScalarType</c> argument names: a constant (<c>ScalarType.Float16</c>, <c>(ScalarType)5</c>) is read
    /// through the enum member that has its value, a field of <c>torch</c> (<c>torch.half</c>) by its name.
    /// </summary>
    private static CastDtype CastTarget(IOperation value)
    {
        while (true)
        {
            if (value.ConstantValue.HasValue && value.Type is INamedTypeSymbol { TypeKind: TypeKind.Enum } enumType)
            {
                var constant = value.ConstantValue.Value;
                var member = enumType.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => f.HasConstantValue && Equals(f.ConstantValue, constant));
                return member is null ? CastDtype.Other : OpPolicy.DtypeNamed(member.Name);
            }

            if (value is not IConversionOperation conversion)
            {
                break;
            }

            value = conversion.Operand;
        }

        return value is IFieldReferenceOperation { Field: { IsStatic: true } field } && SymbolFacts.MetadataName(field.ContainingType) == TypeNames.Torch
            ? OpPolicy.DtypeNamed(field.Name)
            : CastDtype.Other;
    }

    /// <summary>
    /// Records the spans that send a TorchSharp product or function to its <c>CheckedOps</c> counterpart
    /// (<see cref="OpPolicy.CheckedProduct"/>, <see cref="OpPolicy.CheckedFunction"/>). Arguments are matched to
    /// parameters by the compiler, so named or reordered arguments, comments and line breaks are all followed.
    /// </summary>
    private void RecordRoute(InvocationExpressionSyntax invocation, IMethodSymbol method)
    {
        var argumentList = invocation.ArgumentList;
        if (argumentList.OpenParenToken.IsMissing || argumentList.CloseParenToken.IsMissing
            || argumentList.Arguments.Any(a => !a.RefKindKeyword.IsKind(SyntaxKind.None))
            || invocation.Expression is not (MemberAccessExpressionSyntax or SimpleNameSyntax))
        {
            return;
        }

        var callSpan = Relative(invocation.Span);
        var closeParen = Relative(argumentList.CloseParenToken.Span).Start;
        var calleeThroughParen = Relative(TextSpan.FromBounds(invocation.SpanStart, argumentList.OpenParenToken.Span.End));
        if (OpPolicy.HalfStoredOp(method.Name) is { } stored)
        {
            RecordHalfStored(invocation, method, stored, callSpan, calleeThroughParen, closeParen);
            return;
        }

        if (OpPolicy.CheckedFunction(method.Name) is { } function)
        {
            if (method.IsStatic)
            {
                routedCalls.Add(new RoutedCall(function, callSpan, calleeThroughParen, null, EquatableArray<RenamedArgument>.Empty, EquatableArray<string>.Empty, closeParen));
            }

            return;
        }

        if (OpPolicy.CheckedProduct(method.Name) is not { } product
            || semanticModel.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation
            || operation.Arguments.Any(a => a.ArgumentKind != ArgumentKind.Explicit || a.Parameter is null || a.Syntax is not ArgumentSyntax))
        {
            return;
        }

        // In parameter order: the operands, whatever order they are written in.
        var operands = operation.Arguments.OrderBy(a => a.Parameter!.Ordinal).Select(a => (ArgumentSyntax)a.Syntax)
            .Select(a => (a.Expression, a.NameColon)).ToList();
        TextSpan callee;
        TextSpan? receiverToArguments = null;
        if (invocation.Expression is MemberAccessExpressionSyntax access && !method.IsStatic && operands.Count == 1 && IsTensorExpression(access.Expression))
        {
            callee = new TextSpan(callSpan.Start, 0);
            receiverToArguments = Relative(TextSpan.FromBounds(access.Expression.Span.End, argumentList.OpenParenToken.Span.End));
            operands.Insert(0, (access.Expression, null));
        }
        else if (method.IsStatic && operands.Count == 2)
        {
            callee = calleeThroughParen;
        }
        else
        {
            return;
        }

        var renamed = operands
            .Select((operand, index) => (operand.NameColon, index))
            .Where(named => named.NameColon is not null)
            .Select(named => new RenamedArgument(Relative(named.NameColon!.Span), named.index))
            .ToEquatableArray();
        var names = operands.Select(operand => OneLine(Strip(operand.Expression).ToString())).ToEquatableArray();
        routedCalls.Add(new RoutedCall(product, callSpan, callee, receiverToArguments, renamed, names, closeParen));
    }

    /// <summary>
    /// Records a half-stored op (softmax) that binds only the parameters its CheckedOps counterpart has, so that the
    /// emitter can send it there when the planner stores its result in half: <c>functional.softmax(x, -1)</c> gets its
    /// callee replaced, <c>x.softmax(-1)</c> becomes <c>CheckedOps.Softmax(x, -1)</c>.
    /// </summary>
    private void RecordHalfStored(InvocationExpressionSyntax invocation, IMethodSymbol method, string target, TextSpan callSpan, TextSpan calleeThroughParen, int closeParen)
    {
        if (semanticModel.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation
            || !operation.Arguments.All(a => a.ArgumentKind == ArgumentKind.DefaultValue
                || (a.ArgumentKind == ArgumentKind.Explicit && a.Parameter is { } parameter && OpPolicy.IsHalfStoredParameter(parameter.Name))))
        {
            return;
        }

        if (method.IsStatic)
        {
            routedCalls.Add(new RoutedCall(target, callSpan, calleeThroughParen, null, EquatableArray<RenamedArgument>.Empty, EquatableArray<string>.Empty, closeParen, HalfStored: true));
        }
        else if (invocation.Expression is MemberAccessExpressionSyntax access && IsTensorExpression(access.Expression) && operation.Arguments.Any(a => a.ArgumentKind == ArgumentKind.Explicit))
        {
            var receiverToArguments = Relative(TextSpan.FromBounds(access.Expression.Span.End, invocation.ArgumentList.OpenParenToken.Span.End));
            routedCalls.Add(new RoutedCall(target, callSpan, new TextSpan(callSpan.Start, 0), receiverToArguments, EquatableArray<RenamedArgument>.Empty, EquatableArray<string>.Empty, closeParen, HalfStored: true));
        }
    }

    private static string OneLine(string text) =>
        string.Join(" ", text.Split((char[]?)null, System.StringSplitOptions.RemoveEmptyEntries));

    private void ClassifyIdentifier(IdentifierNameSyntax identifier)
    {
        switch (semanticModel.GetSymbolInfo(identifier, cancellationToken).Symbol)
        {
            case ILocalSymbol local:
                Add(ExprKind.Local, identifier, local.Name, new List<int>(), localIndex: LocalIndex(local));
                break;
            case IParameterSymbol parameter:
                Add(ExprKind.Parameter, identifier, parameter.Name, new List<int>());
                break;
            default:
                Add(ExprKind.Opaque, identifier, identifier.Identifier.ValueText, new List<int>());
                break;
        }
    }

    /// <summary>The model member a module call goes to: <c>fc</c>, <c>this.fc</c>, <c>blocks[i]</c>, or a foreach variable over <c>blocks</c>.</summary>
    /// <summary>Whether <paramref name="moduleType"/> has a <c>call</c> taking exactly <paramref name="forward"/>'s parameters.</summary>
    private static bool HasMatchingCall(ITypeSymbol? moduleType, IMethodSymbol forward)
    {
        for (var type = moduleType; type is not null; type = type.BaseType)
        {
            foreach (var call in type.GetMembers(TypeNames.ModuleCall).OfType<IMethodSymbol>())
            {
                if (call.DeclaredAccessibility == Accessibility.Public && call.Parameters.Length == forward.Parameters.Length
                    && call.Parameters.Zip(forward.Parameters, (a, b) => a.RefKind == b.RefKind && SymbolEqualityComparer.Default.Equals(a.Type, b.Type)).All(same => same))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private (string Member, string ElementType)? ResolveLayer(ExpressionSyntax receiver)
    {
        receiver = Strip(receiver);
        if (MemberName(receiver) is { } direct)
        {
            return (direct, "");
        }

        var receiverType = SymbolFacts.MetadataName(semanticModel.GetTypeInfo(receiver, cancellationToken).Type);
        if (receiver is ElementAccessExpressionSyntax element && MemberName(Strip(element.Expression)) is { } container)
        {
            return (container, receiverType);
        }

        if (semanticModel.GetSymbolInfo(receiver, cancellationToken).Symbol is ILocalSymbol local
            && local.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is ForEachStatementSyntax loop
            && MemberName(Strip(loop.Expression)) is { } iterated)
        {
            return (iterated, receiverType);
        }

        return null;
    }

    private string? MemberName(ExpressionSyntax expression)
    {
        if (expression is MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } thisAccess)
        {
            expression = thisAccess.Name;
        }

        return semanticModel.GetSymbolInfo(expression, cancellationToken).Symbol is { } symbol
            && symbol is IFieldSymbol or IPropertySymbol
            && SymbolEqualityComparer.Default.Equals(symbol.ContainingType?.OriginalDefinition, modelType.OriginalDefinition)
            && memberNames.Contains(symbol.Name)
            ? symbol.Name
            : null;
    }

    private void RecordAssignments(SyntaxNode node)
    {
        switch (node)
        {
            case VariableDeclaratorSyntax declarator when semanticModel.GetDeclaredSymbol(declarator, cancellationToken) is ILocalSymbol local && IsTensorLocal(local):
                if (declarator.Initializer is { } initializer)
                {
                    Assign(local, initializer.Value);
                }
                else
                {
                    LocalIndex(local);
                }

                break;
            case AssignmentExpressionSyntax assignment:
                foreach (var target in AssignedLocals(assignment.Left))
                {
                    if (assignment.IsKind(SyntaxKind.SimpleAssignmentExpression) && assignment.Left is IdentifierNameSyntax)
                    {
                        Assign(target, assignment.Right);
                    }
                    else
                    {
                        Untrack(target);
                    }
                }

                break;
            case ArgumentSyntax argument when !argument.RefKindKeyword.IsKind(SyntaxKind.None):
                UntrackAll(argument.Expression);

                break;
            case SingleVariableDesignationSyntax designation when semanticModel.GetDeclaredSymbol(designation, cancellationToken) is ILocalSymbol local && IsTensorLocal(local):
                Untrack(local);
                break;
            case ForEachStatementSyntax loop when semanticModel.GetDeclaredSymbol(loop, cancellationToken) is ILocalSymbol local && IsTensorLocal(local):
                Untrack(local);
                break;
            case PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PreIncrementExpression or (int)SyntaxKind.PreDecrementExpression } prefix:
                UntrackAll(prefix.Operand);
                break;
            case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PostIncrementExpression or (int)SyntaxKind.PostDecrementExpression } postfix:
                UntrackAll(postfix.Operand);
                break;
        }
    }

    private void RecordStatementValue(SyntaxNode node)
    {
        var value = node switch
        {
            LocalDeclarationStatementSyntax { Declaration.Variables: { Count: 1 } variables } => variables[0].Initializer?.Value,
            ExpressionStatementSyntax { Expression: AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Left: IdentifierNameSyntax } assignment } => assignment.Right,
            _ => null,
        };
        if (value is not null && !node.Ancestors().Any(a => a is AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax))
        {
            statementValues.Add(Relative(Strip(value).Span));
        }
    }

    private IEnumerable<ILocalSymbol> AssignedLocals(ExpressionSyntax target)
    {
        var identifiers = target is TupleExpressionSyntax or DeclarationExpressionSyntax
            ? target.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>()
            : new[] { Strip(target) }.OfType<IdentifierNameSyntax>();
        foreach (var identifier in identifiers)
        {
            if (semanticModel.GetSymbolInfo(identifier, cancellationToken).Symbol is ILocalSymbol local && IsTensorLocal(local))
            {
                yield return local;
            }
        }
    }

    private void UntrackAll(ExpressionSyntax target)
    {
        foreach (var local in AssignedLocals(target))
        {
            Untrack(local);
        }
    }

    private void Assign(ILocalSymbol local, ExpressionSyntax value)
    {
        var index = LocalIndex(local);
        if (nodeOf.TryGetValue(Strip(value), out var node))
        {
            locals[index].Assigned.Add(node);
        }
        else
        {
            Untrack(local);
        }
    }

    private void Untrack(ILocalSymbol local)
    {
        var index = LocalIndex(local);
        locals[index] = (locals[index].Name, locals[index].Assigned, true);
    }

    private int LocalIndex(ILocalSymbol local)
    {
        if (!localOf.TryGetValue(local, out var index))
        {
            index = locals.Count;
            localOf.Add(local, index);
            locals.Add((local.Name, new List<int>(), false));
        }

        return index;
    }

    private void CollectReturns(BlockSyntax body)
    {
        foreach (var statement in body.DescendantNodes(n => n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax)).OfType<ReturnStatementSyntax>())
        {
            if (statement.Expression is { } value)
            {
                returns.Add(Relative(value.Span));
            }
        }
    }

    private void Add(ExprKind kind, ExpressionSyntax expression, string name, List<int> inputs, string moduleType = "", bool returnsTensor = true, int localIndex = -1, bool explicitDtype = false, List<TextSpan>? collections = null)
    {
        nodeOf[expression] = nodes.Count;
        nodes.Add(new ExprNode(
            kind,
            Relative(expression.Span),
            name,
            moduleType,
            inputs.Distinct().ToEquatableArray(),
            localIndex,
            explicitDtype,
            returnsTensor,
            LocationInfo.From(expression)!,
            (collections ?? new List<TextSpan>()).ToEquatableArray()));
    }

    private List<int> Inputs(params ExpressionSyntax?[] expressions)
    {
        var inputs = new List<int>();
        foreach (var expression in expressions)
        {
            if (expression is not null && nodeOf.TryGetValue(Strip(expression), out var index))
            {
                inputs.Add(index);
            }
        }

        return inputs;
    }

    private static ExpressionSyntax?[] CollectionElements(ExpressionSyntax expression) => expression switch
    {
        ArrayCreationExpressionSyntax { Initializer: { } initializer } => initializer.Expressions.ToArray<ExpressionSyntax?>(),
        ImplicitArrayCreationExpressionSyntax creation => creation.Initializer.Expressions.ToArray<ExpressionSyntax?>(),
        CollectionExpressionSyntax collection => collection.Elements.OfType<ExpressionElementSyntax>().Select(e => (ExpressionSyntax?)e.Expression).ToArray(),
        _ => System.Array.Empty<ExpressionSyntax?>(),
    };

    private bool IsTensorExpression(ExpressionSyntax expression) =>
        SymbolFacts.IsTensor(semanticModel.GetTypeInfo(expression, cancellationToken).Type);

    private bool IsTensorLocal(ILocalSymbol local) => SymbolFacts.IsTensor(local.Type);

    private TextSpan Relative(TextSpan span) => new(span.Start - textStart, span.Length);

    private static SyntaxToken? NameOf(ExpressionSyntax target) => target switch
    {
        SimpleNameSyntax simple => simple.Identifier,
        MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax, Name: var name } => name.Identifier,
        _ => null,
    };

    private static ExpressionSyntax Strip(ExpressionSyntax expression)
    {
        while (expression is ParenthesizedExpressionSyntax parenthesized)
        {
            expression = parenthesized.Expression;
        }

        return expression;
    }

    private static bool IsInvokedName(ExpressionSyntax expression) =>
        expression.Parent is InvocationExpressionSyntax invocation && invocation.Expression == expression
        || expression.Parent is MemberAccessExpressionSyntax access && access.Name == expression && access.Parent is InvocationExpressionSyntax outer && outer.Expression == access;

    private static bool IsMemberName(ExpressionSyntax expression) =>
        expression.Parent is MemberAccessExpressionSyntax access && access.Name == expression
        || expression.Parent is MemberBindingExpressionSyntax;

    private static bool IsAssignmentTarget(ExpressionSyntax expression) =>
        expression.Parent is AssignmentExpressionSyntax assignment && assignment.Left == expression;
}
