using Microsoft.CodeAnalysis.Text;

namespace PrecisionDsl.Generator.Model;

/// <summary>
/// What the liveness pass reads of a block-bodied <c>[Forward]</c>: the statements of its outermost block and
/// the tensor locals they declare, with every use and every value written to them. Facts only; the decisions
/// are <see cref="Planning.Liveness"/>'s. <see cref="None"/> when the body has no outermost block or jumps
/// (<c>goto</c>, labels), where statement order is not execution order.
/// </summary>
internal sealed record BodyLiveness(EquatableArray<TopStatement> Statements, EquatableArray<TrackedLocal> Locals)
{
    public static readonly BodyLiveness None = new(EquatableArray<TopStatement>.Empty, EquatableArray<TrackedLocal>.Empty);
}

/// <summary>One statement of the method's outermost block (spans relative to the body text).</summary>
/// <param name="EndReachable">Code right after it is reachable, so a statement inserted there compiles without CS0162.</param>
/// <param name="Assigned">For <c>var h = value;</c> and <c>h = value;</c> of a tracked local: its index in
/// <see cref="BodyLiveness.Locals"/>; -1 otherwise.</param>
/// <param name="IsDeclaration">The statement declares <see cref="Assigned"/> (else it reassigns it).</param>
/// <param name="Target">From the statement's start to the value: <c>var h = </c> or <c>h = </c>.</param>
/// <param name="DeclaredType">The local's type, <c>global::</c>-qualified with its nullability, for a split declaration.</param>
/// <param name="ValueIsClosed">The value is one tensor expression that calls only TorchSharp, the runtime,
/// <c>System.Math</c> and TorchSharp layers, declares nothing, assigns nothing and captures nothing: none of the
/// tensors it creates on the way can be referenced once the statement has run.</param>
internal sealed record TopStatement(TextSpan Span, bool EndReachable, int Assigned, bool IsDeclaration, TextSpan Target, TextSpan Value, string DeclaredType, bool ValueIsClosed);

/// <summary>A tensor local declared by a statement of the outermost block.</summary>
/// <param name="Name">As written (with <c>@</c> if it has one).</param>
/// <param name="Declared">Index of the declaring statement.</param>
/// <param name="IsUsing">A <c>using</c> declaration: disposed by the user's own <c>using</c>.</param>
/// <param name="HasInitializer">Declared with a value, so it is definitely assigned wherever it is in scope.</param>
internal sealed record TrackedLocal(string Name, int Declared, bool IsUsing, bool HasInitializer, EquatableArray<LocalUse> Uses, EquatableArray<LocalValue> Values);

internal enum UseKind
{
    /// <summary>Read by an op, a TorchSharp layer, an operator, a member access or a return: nothing keeps the reference.</summary>
    Read,

    /// <summary>The reference may outlive the statement: captured by a lambda or local function, copied to another
    /// variable, stored, passed by ref/out or to user code, moved between dispose scopes or disposed by the user.</summary>
    Escape,
}

/// <summary>A use of a tracked local, in the outermost statement that holds it.</summary>
internal readonly record struct LocalUse(int Statement, UseKind Kind);

internal enum ValueOrigin
{
    /// <summary>A tensor the forward creates (an op, an operator): no other variable refers to that object.</summary>
    Fresh,

    /// <summary>Created by the forward or one of the tracked locals in <see cref="LocalValue.MayBe"/> itself (a TorchSharp
    /// layer or in-place op may return its input object).</summary>
    MayBeInput,

    /// <summary>Possibly a tensor the user or the caller holds (a parameter, a field, user code's result, a copy).</summary>
    Unknown,
}

/// <summary>A value written to a tracked local, in the outermost statement that writes it.</summary>
internal sealed record LocalValue(int Statement, ValueOrigin Origin, EquatableArray<int> MayBe);

/// <summary>What the emitter adds around one outermost statement.</summary>
/// <param name="ScopesTemporaries">Run the statement's value in a dispose scope of its own and keep only the value.</param>
/// <param name="Replaces">The reassigned local whose previous value is freed by the assignment; "" for none.</param>
/// <param name="ReleasedAfter">Locals freed right after the statement, their last use.</param>
internal sealed record StatementLiveness(int Statement, bool ScopesTemporaries, string Replaces, EquatableArray<string> ReleasedAfter);
