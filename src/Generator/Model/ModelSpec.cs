using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Model;

/// <summary>Precision a layer, op or region runs in. Mirrors the runtime's <c>PrecisionDsl.PrecisionKind</c>.</summary>
internal enum PrecisionKind
{
    Fp32,
    Fp16,
    Bf16,
}

/// <summary>A precision attribute the user wrote: <c>[Fp16]</c>, <c>[Bf16]</c> or <c>[KeepFp32]</c>.</summary>
internal readonly record struct PrecisionAttributeUse(PrecisionKind Kind, string Name, LocationInfo Location);

/// <summary>
/// A precision model as plain data: everything the planner and emitter need, nothing that pins a
/// compilation (no symbols, syntax nodes or <see cref="Microsoft.CodeAnalysis.Location"/>).
/// </summary>
/// <param name="DerivesFromPrecisionModel">A base class is a precision model too: its generated public members (PrecisionPlan, TrainStep...) are hidden by this class's.</param>
/// <param name="TakenMemberNames">Names of generated public members (PrecisionPlan, TrainStep...) the user already declares: those are not emitted.</param>
/// <param name="IsPlainClass">Declared as a non-static <c>class</c> (not a record): the only kind the generated partial can extend.</param>
/// <param name="IsWellFormed">
/// The declarations the generated file repeats (class and containing type headers, namespaces, Module type
/// arguments) parse and bind without errors: copying them would only repeat the user's errors.
/// </param>
internal sealed record ModelSpec(
    string Name,
    string FullName,
    string? Namespace,
    string TypeParameters,
    EquatableArray<ContainingTypeSpec> ContainingTypes,
    LocationInfo Location,
    bool IsPartial,
    bool ContainingTypesArePartial,
    bool IsPlainClass,
    bool IsAbstract,
    bool IsWellFormed,
    bool DerivesFromModule,
    EquatableArray<string> ModuleTypeArguments,
    ResultShape ResultShape,
    bool DeclaresForward,
    bool DerivesFromPrecisionModel,
    EquatableArray<string> TakenMemberNames,
    EquatableArray<PrecisionAttributeUse> ClassAttributes,
    EquatableArray<MemberSpec> Members,
    EquatableArray<ForwardMethodSpec> ForwardMethods,
    EquatableArray<LossMethodSpec> LossMethods)
{
    /// <summary>The fully qualified TResult of <c>Module&lt;..., TResult&gt;</c>.</summary>
    public string ResultType => ModuleTypeArguments.Count == 0 ? "" : ModuleTypeArguments[ModuleTypeArguments.Count - 1];

    public int InputCount => ModuleTypeArguments.Count - 1;
}

/// <summary>
/// What forward returns, as the result handling needs it: a tensor, a tuple whose tensor items are listed
/// (Item1..Item7), or anything else (returned as is, without a dispose scope that could free it).
/// </summary>
internal sealed record ResultShape(bool IsTensor, EquatableArray<bool> TupleItemIsTensor)
{
    public static readonly ResultShape Other = new(false, EquatableArray<bool>.Empty);

    public bool IsTensorTuple => TupleItemIsTensor.Count > 0;

    public bool HoldsTensors => IsTensor || IsTensorTuple;
}

/// <summary>An enclosing type declaration the generated partial must repeat ("class Outer").</summary>
internal readonly record struct ContainingTypeSpec(string Keyword, string Name, bool IsPartial);

/// <summary>A field or property of the model.</summary>
/// <param name="LayerType">Metadata name of the member's module type ("TorchSharp.Modules.Linear"), or "" when it is no module.</param>
/// <param name="ElementLayerType">For ModuleList&lt;T&gt;/ModuleDict&lt;T&gt;: metadata name of T.</param>
/// <param name="IsPrecisionModel">The member's type is itself a precision model (keeps its own plan).</param>
/// <param name="Declaration">The whole declarator, initializer included (PDSL005 asks about literals in it).</param>
/// <param name="IsComputed">A property with its own getter: it reads another member, so the runtime is not told about it twice.</param>
/// <param name="Unresolved">
/// Declared as TorchSharp's <c>Module</c>/<c>Module&lt;...&gt;</c> and no single concrete layer type is assigned to it:
/// why not (PDSL013). Null when the type is known — declared, or the one type every value written to it has
/// (<see cref="LayerType"/> is then that type).
/// </param>
/// <param name="IsUserModule">A module type of the user's (not TorchSharp's) that is no precision model.</param>
/// <param name="Contents">For a container whose contents are visible in the source: the layers inside it; null when only the run time knows.</param>
internal sealed record MemberSpec(
    string Name,
    string TypeDisplay,
    string LayerType,
    string ElementLayerType,
    bool IsModule,
    bool IsPrecisionModel,
    bool IsStatic,
    EquatableArray<PrecisionAttributeUse> Attributes,
    LocationInfo Location,
    LocationInfo Declaration,
    bool IsComputed,
    string? Unresolved,
    bool IsUserModule,
    EquatableArray<ContainedLayerSpec>? Contents);

/// <summary>A layer inside a container member, as far as the source shows it.</summary>
/// <param name="Path">Where it sits below the member: "[0]", ".conv", "[*]" (added in a loop), "[*].conv1" (a layer of a user block).</param>
/// <param name="LayerType">Metadata name of its static type; "" when the source shows only TorchSharp's Module base.</param>
/// <param name="IsUserBlock">A user module that is no precision model: the run time walks into it, its layers follow it.</param>
/// <param name="Block">For a layer of a user block: that block's type name; "" otherwise.</param>
internal sealed record ContainedLayerSpec(string Path, string LayerType, bool IsPrecisionModel, bool IsUserBlock, string Block);

/// <summary>A method marked <c>[Forward]</c>.</summary>
/// <param name="SignatureProblem">Why the signature does not match the module's forward; null when it does.</param>
internal sealed record ForwardMethodSpec(
    string Name,
    LocationInfo Location,
    EquatableArray<string> ParameterNames,
    string? SignatureProblem,
    bool CastResultToFp32,
    ForwardBody? Body);

/// <summary>A method marked <c>[LossScaled]</c> with the scaler options the user set (null = default).</summary>
/// <param name="IsCallableWithValues">
/// A generated call by name reaches it with plain values: the only member of its name (an overload or a
/// duplicate could make the call ambiguous), not generic, no ref/out/in/params/this or __arglist, every
/// parameter parsed, bound and named.
/// </param>
internal sealed record LossMethodSpec(
    string Name,
    LocationInfo Location,
    bool ReturnsTensor,
    string ReturnType,
    EquatableArray<ParameterSpec> Parameters,
    bool FirstParameterTakesResult,
    bool IsCallableWithValues,
    LossScaleSpec Options);

internal readonly record struct ParameterSpec(string Name, string Type);

internal sealed record LossScaleSpec(
    double? InitialScale,
    double? GrowthFactor,
    double? BackoffFactor,
    int? GrowthInterval,
    int? Hysteresis,
    double? MinScale,
    double? MaxScale);

/// <summary>
/// The <c>[Forward]</c> body as text plus the tensor expressions inside it. Spans are relative to
/// <see cref="Text"/>; <see cref="TextStart"/> maps them back to the file.
/// </summary>
/// <param name="NullableContext">The <c>#nullable</c> setting the body was written under ("enable", "disable", "enable warnings"...).</param>
/// <param name="Returns">Expressions of the method's own <c>return</c> statements (not those of lambdas or local functions).</param>
/// <param name="HelperCalls">Where a call to a rewritten helper names it (empty spans: "__Pdsl" is inserted there).</param>
/// <param name="RoutedCalls">Calls the generated code sends to their <c>CheckedOps</c> counterpart.</param>
/// <param name="LayerForwardNames">The <c>forward</c> of <c>layer.forward(x)</c>: the generated code says <c>call</c>, so the
/// runtime's hooks (container casts, widened layers) run, as they do for <c>layer.call(x)</c>.</param>
/// <param name="ManualCasts">Hand-written dtype casts on tensors (<c>x.half()</c>, <c>x.to(ScalarType.BFloat16)</c>...): PDSL011.</param>
/// <param name="BaseForwardCalls"><c>base.forward(...)</c> calls that reach a base precision model's generated forward: PDSL014.</param>
/// <param name="Helpers">Methods of the model the body calls that call layers or policy ops themselves; they get a
/// rewritten copy too (filled on the [Forward] body only, for every helper reachable from it).</param>
/// <param name="Liveness">Statements and tensor locals of the [Forward] block for the liveness pass (none for helpers).</param>
/// <param name="StatementValues">Values that are the whole of a statement <c>var h = value;</c> (one declarator) or
/// <c>h = value;</c>, at any depth of blocks and loops but outside lambdas and local functions: such a value goes to
/// the local and nowhere else.</param>
internal sealed record ForwardBody(
    string FilePath,
    int TextStart,
    string Text,
    bool IsExpressionBody,
    string NullableContext,
    EquatableArray<string> FileUsings,
    EquatableArray<string> NamespaceUsings,
    EquatableArray<ExprNode> Nodes,
    EquatableArray<LocalSpec> Locals,
    EquatableArray<TextSpan> Returns,
    EquatableArray<TextSpan> HelperCalls,
    EquatableArray<RoutedCall> RoutedCalls,
    EquatableArray<TextSpan> LayerForwardNames,
    EquatableArray<ManualCast> ManualCasts,
    EquatableArray<BaseForwardCall> BaseForwardCalls,
    EquatableArray<HelperSpec> Helpers,
    BodyLiveness Liveness,
    EquatableArray<TextSpan> StatementValues);

/// <summary>A hand-written cast of a tensor (<c>x.half()</c>, <c>x.to(type: ScalarType.Float16)</c>, <c>x.type(torch.bfloat16)</c>).</summary>
/// <param name="Call">The call as written ("x.half()"), for the message.</param>
/// <param name="Location">From the method name through the closing parenthesis (<c>x.{|half()|}</c>).</param>
/// <param name="OnlyDtype">The call passes nothing but the dtype, so removing it changes nothing else (no device, no copy flag).</param>
internal sealed record ManualCast(string Call, CastDtype Target, bool OnlyDtype, LocationInfo Location);

/// <summary>A <c>base.forward(...)</c> call whose target is the generated forward of <paramref name="BaseModel"/> (its name).</summary>
internal sealed record BaseForwardCall(string Call, string BaseModel, LocationInfo Location);

/// <summary>
/// A call the generated code sends to its <c>CheckedOps</c> counterpart, as the spans to replace (relative to
/// the body text): the parser read the syntax, so named arguments, comments and line breaks inside the call
/// change nothing, and the emitter only replaces these spans.
/// </summary>
/// <param name="Target">The <c>CheckedOps</c> member ("Matmul", "Einsum", ...).</param>
/// <param name="Span">The whole call.</param>
/// <param name="Callee">Replaced by <c>CheckedOps.Target(</c>: the callee through its '(' (<c>torch.matmul(</c>), or an
/// empty span at the call's start for a product written on its left operand (<c>a.matmul(b)</c>).</param>
/// <param name="ReceiverToArguments">For <c>a.matmul(b)</c>: from the end of <c>a</c> through the '(' (<c>.matmul(</c>),
/// replaced by ", "; null otherwise.</param>
/// <param name="RenamedArguments">Named arguments of a product: each <c>name:</c> becomes the name of the CheckedOps parameter of its operand.</param>
/// <param name="OperandNames">For a product: its two operands as written (one line each), for the shape error message.</param>
/// <param name="CloseParen">Where the call's ')' starts: the operand names go before it.</param>
/// <param name="HalfStored">A half-stored op (<see cref="Policy.OpPolicy.HalfStoredOp"/>): routed only when the planner
/// stores the call's result in half (<see cref="NodePlan.StoredInHalf"/>), with that dtype passed as the last argument.</param>
internal sealed record RoutedCall(
    string Target,
    TextSpan Span,
    TextSpan Callee,
    TextSpan? ReceiverToArguments,
    EquatableArray<RenamedArgument> RenamedArguments,
    EquatableArray<string> OperandNames,
    int CloseParen,
    bool HalfStored = false);

/// <summary>The <c>name:</c> of a product's argument and which operand (0 left, 1 right) the argument is.</summary>
internal readonly record struct RenamedArgument(TextSpan NameColon, int Operand);

/// <summary>
/// A helper method of the model called from the forward body; its rewritten copy is named
/// <c>__Pdsl</c> + <see cref="Name"/>.
/// </summary>
/// <param name="Signature">The copy's declaration after the accessibility, e.g. "Tensor __PdslBlock(Tensor x)".</param>
internal sealed record HelperSpec(string Name, string Signature, bool ReturnsVoid, ForwardBody Body);

internal enum ExprKind
{
    /// <summary><c>member.call(...)</c>/<c>member.forward(...)</c>, also on an element of a container member.</summary>
    LayerCall,

    /// <summary>A module call whose module is not a member of the model (a local, a returned module...).</summary>
    UnknownModuleCall,

    /// <summary>A TorchSharp function or tensor method (<c>functional.softmax</c>, <c>x.matmul(y)</c>, <c>x.T</c>).</summary>
    Op,

    /// <summary>A tensor operator (<c>a + b</c>, <c>-a</c>): runs in the promoted dtype of its operands.</summary>
    Operator,

    /// <summary><c>c ? a : b</c>, <c>a ?? b</c>: one of its inputs.</summary>
    Join,

    Local,
    Parameter,

    /// <summary>Any other tensor expression (user helper calls, fields): dtype known only at run time.</summary>
    Opaque,
}

/// <summary>
/// One tensor expression (or layer call) in the forward body.
/// </summary>
/// <param name="Name">Member name for layer calls, op name for ops, operator token, local/parameter name.</param>
/// <param name="ModuleType">For module calls: metadata name of the module type; for container element calls: the element type.</param>
/// <param name="Inputs">Indices of the tensor expressions the node consumes (receiver first) — the places a cast can go.</param>
/// <param name="HasExplicitDtype">An argument is a <c>ScalarType</c>: the op picks its own result dtype.</param>
/// <param name="ReturnsTensor">The expression's type is a Tensor (a recurrent layer returns a tuple).</param>
/// <param name="CollectionArguments">Arguments written as an array or collection literal (<c>new[] { a, b }</c>, <c>[a, b]</c>).</param>
internal sealed record ExprNode(
    ExprKind Kind,
    TextSpan Span,
    string Name,
    string ModuleType,
    EquatableArray<int> Inputs,
    int LocalIndex,
    bool HasExplicitDtype,
    bool ReturnsTensor,
    LocationInfo Location,
    EquatableArray<TextSpan> CollectionArguments);

/// <summary>
/// A tensor local of the body with every value assigned to it.
/// </summary>
/// <param name="Untracked">Assigned in a way the flow analysis does not follow (out/ref, deconstruction, compound assignment, foreach...).</param>
internal sealed record LocalSpec(string Name, EquatableArray<int> AssignedNodes, bool Untracked);
