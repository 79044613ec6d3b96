using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Model;

/// <summary>
/// A dtype as far as the compiler can know it. <see cref="Fp16"/> is the runtime's half dtype
/// (float16, or bfloat16 where the policy maps fp16 to bf16), so Fp16 and Bf16 are kept apart.
/// </summary>
internal enum StaticDtype
{
    /// <summary>Known only at run time (inputs, user helpers, mixed branches).</summary>
    Unknown,
    Fp32,
    Fp16,
    Bf16,
}

internal static class StaticDtypes
{
    /// <summary>The static dtype a layer or region of <paramref name="kind"/> computes in.</summary>
    public static StaticDtype ToStatic(this PrecisionKind kind) => kind switch
    {
        PrecisionKind.Fp16 => StaticDtype.Fp16,
        PrecisionKind.Bf16 => StaticDtype.Bf16,
        _ => StaticDtype.Fp32,
    };
}

/// <summary>What the generator writes for a model.</summary>
internal enum GeneratedOutput
{
    /// <summary>Nothing: no partial can extend it (not a plain class, no Module base, its own forward, declarations that do not parse).</summary>
    None,

    /// <summary>The mixed-precision forward, its state, plan and helpers, and the training members.</summary>
    Model,

    /// <summary>Only a forward that throws naming the rule: the analyzers reject the model, or its [Forward] body does not compile.</summary>
    ThrowingForward,

    /// <summary>Only a compile error naming PDSL001: a class that is not partial would otherwise fail with CS0534 alone.</summary>
    NotPartialError,
}

/// <summary>Everything the planner decided about one precision model.</summary>
/// <param name="ClassDefault">The model default from the class attribute (Fp32 without one): the half dtype of half-list ops.</param>
/// <param name="Forward">The rewrite plan of the <c>[Forward]</c> body; null when the model is rejected or has no body.</param>
/// <param name="Ops">Every op site of the forward body the op policy acts on: half, fp32 and promote lists, and dtype-changing ops such as <c>half()</c> or <c>to()</c> (plan table, PDSL010, PDSL011).</param>
/// <param name="Loss">The <c>[LossScaled]</c> method the training step uses, when it can.</param>
internal sealed partial record ModelPlan(
    ModelSpec Model,
    GeneratedOutput Output,
    PrecisionKind ClassDefault,
    EquatableArray<LayerPlan> Layers,
    ForwardPlan? Forward,
    EquatableArray<OpPlan> Ops,
    EquatableArray<PlanProblem> Problems,
    LossMethodSpec? Loss);

/// <summary>A layer member and the precision it runs in.</summary>
/// <param name="Contents">For a container whose contents the source shows: the precision of each layer inside it.</param>
internal sealed record LayerPlan(
    string Name,
    string TypeName,
    LayerCategory Category,
    PrecisionKind Kind,
    string Reason,
    MemberSpec Member,
    EquatableArray<ContainedLayerPlan> Contents)
{
    /// <summary>Runs in its own resolved precision (the runtime keeps half shadows of it when that is half); other layers run in fp32 or in what they receive.</summary>
    public bool HasOwnPrecision => Category is LayerCategory.Compute or LayerCategory.Sensitive or LayerCategory.Container;
}

/// <summary>
/// A layer inside a container, for the plan table: the run time applies the container's precision to it by its
/// type (SPEC section 4). <see cref="Precision"/> is the table's text: a kind, "input dtype", "per layer" or "run time".
/// </summary>
internal sealed record ContainedLayerPlan(string Subject, string TypeName, string Precision, string Reason);

/// <summary>An op (or module call) site in the forward body and the dtype it runs in.</summary>
/// <param name="Subject">How the plan table names it: the op, its place among ops of that name when there are several
/// ("matmul #2"), and the helper it is in ("softmax in Block"); never a line number, so an edit above the model
/// leaves the generated file as it is.</param>
internal sealed record OpPlan(string Name, string Subject, OpCategory Category, StaticDtype RunsIn, string Reason, LocationInfo Location);

/// <summary>
/// What the planner decided for one node of the forward body.
/// </summary>
/// <param name="Result">Static dtype of the value the node produces.</param>
/// <param name="RunsIn">Dtype the node computes in (its cast target, or its result for pass-through nodes).</param>
/// <param name="CastInputs">Inputs wrapped in a cast to <see cref="RunsIn"/>.</param>
/// <param name="Why">Short reason, written next to the casts.</param>
/// <param name="Promote">How a promote-list op whose widest input is known only at run time finds it.</param>
/// <param name="StoredInHalf">A half-stored op (softmax) that computes in fp32 (<see cref="RunsIn"/>) and stores its
/// result in the half dtype <see cref="Result"/> that every reader of it runs in; its input is not cast.</param>
internal sealed record NodePlan(StaticDtype Result, StaticDtype RunsIn, EquatableArray<int> CastInputs, string Why, RuntimePromote Promote = RuntimePromote.None, bool StoredInHalf = false);

/// <summary>How a promote-list op casts to <c>Precision.Widest</c> of its inputs without evaluating one twice.</summary>
internal enum RuntimePromote
{
    /// <summary>The cast target is a static dtype (or the op is no promote op).</summary>
    None,

    /// <summary>Every input is a local or parameter: each is cast to <c>Precision.Widest(inputs)</c>.</summary>
    WidestOfInputs,

    /// <summary>The inputs are written in array/collection literals: each literal passes through <c>__PdslPromote</c>.</summary>
    WrapCollections,
}

/// <summary>The forward rewrite: per node of <see cref="ForwardBody.Nodes"/>, its plan; and the plans of the helpers it calls.</summary>
/// <param name="Liveness">Where the generated forward frees tensors before its dispose scope ends (<see cref="Planning.Liveness"/>).</param>
internal sealed record ForwardPlan(ForwardMethodSpec Method, ForwardBody Body, EquatableArray<NodePlan> Nodes, EquatableArray<HelperPlan> Helpers, EquatableArray<StatementLiveness> Liveness);

/// <summary>The rewrite of one helper method called from the forward body.</summary>
/// <param name="UsesHalfDtypes">Some input is cast to a half dtype, which the copy reads from the forward scope.</param>
internal sealed record HelperPlan(HelperSpec Helper, EquatableArray<NodePlan> Nodes, bool UsesHalfDtypes);

/// <summary>
/// A model-level problem the analyzers report. <see cref="Subject"/> names the class, member, method or op;
/// <see cref="Detail"/> says what is wrong in words for the message.
/// </summary>
/// <param name="Removable">PDSL011: the cast passes only the dtype, so the code fix may delete it.</param>
internal sealed record PlanProblem(string RuleId, LocationInfo Location, string Subject, string Detail, bool Removable = false)
{
    public bool IsError => RuleCatalog.IsError(RuleId);
}

/// <summary>The dtype an expression runs in (PDSL005 asks this about literals).</summary>
/// <param name="RunsIn">The dtype the enclosing operation computes in; Unknown when only the run time knows.</param>
/// <param name="Region">The model's default precision: the half dtype an Unknown expression may still run in.</param>
/// <param name="Subject">The op, layer or member the expression belongs to.</param>
/// <param name="HalfInput">When only the run time knows <see cref="RunsIn"/>: the half dtype an input of the enclosing operation has for certain (fp16 before bf16); Unknown otherwise.</param>
internal sealed record ExpressionPrecision(StaticDtype RunsIn, PrecisionKind Region, string Subject, string Reason, StaticDtype HalfInput = StaticDtype.Unknown)
{
    /// <summary>The dtype a scalar in the expression is computed in: combined with a tensor that is half for certain, it is half too.</summary>
    public StaticDtype ComputedIn => RunsIn == StaticDtype.Unknown ? HalfInput : RunsIn;

    /// <summary>Runs in half for certain (fp16 or bf16).</summary>
    public bool IsHalf => RunsIn is StaticDtype.Fp16 or StaticDtype.Bf16;
}

internal sealed partial record ModelPlan
{
    /// <summary>Whether the analyzers reject the model (the generator then emits only a throwing forward).</summary>
    public bool IsRejected => Problems.Any(p => p.IsError);

    public LayerPlan? Layer(string name) => Layers.FirstOrDefault(l => l.Name == name);

    /// <summary>The layers the runtime is told about: those with a precision of their own that a field or auto-property holds.</summary>
    public IEnumerable<LayerPlan> RuntimeLayers => Layers.Where(l => l.HasOwnPrecision && !l.Member.IsComputed);

    /// <summary>The dtype the expression at <paramref name="span"/> of <paramref name="filePath"/> runs in, or null when it is outside the forward body and the layer initializers.</summary>
    public ExpressionPrecision? PrecisionAt(string filePath, TextSpan span)
    {
        if (Forward is { } forward)
        {
            var found = PrecisionIn(forward.Body, forward.Nodes, forward.Method.Name, filePath, span);
            foreach (var helper in forward.Helpers)
            {
                found ??= PrecisionIn(helper.Helper.Body, helper.Nodes, helper.Helper.Name, filePath, span);
            }

            if (found is not null)
            {
                return found;
            }
        }

        foreach (var layer in Layers)
        {
            if (layer.Member.Declaration.Contains(filePath, span))
            {
                var runsIn = layer.HasOwnPrecision ? layer.Kind.ToStatic() : StaticDtype.Fp32;
                return new ExpressionPrecision(runsIn, ClassDefault, layer.Name, layer.Reason);
            }
        }

        return null;
    }

    private ExpressionPrecision? PrecisionIn(ForwardBody body, EquatableArray<NodePlan> plans, string method, string filePath, TextSpan span)
    {
        if (body.FilePath != filePath || !new TextSpan(body.TextStart, body.Text.Length).Contains(span))
        {
            return null;
        }

        var relative = new TextSpan(span.Start - body.TextStart, span.Length);
        var innermost = -1;
        for (var i = 0; i < body.Nodes.Count; i++)
        {
            if (body.Nodes[i].Span.Contains(relative) && (innermost < 0 || body.Nodes[innermost].Span.Contains(body.Nodes[i].Span)))
            {
                innermost = i;
            }
        }

        if (innermost < 0)
        {
            return new ExpressionPrecision(StaticDtype.Unknown, ClassDefault, method, "outside any tensor operation");
        }

        var halfInput = StaticDtype.Unknown;
        foreach (var input in body.Nodes[innermost].Inputs)
        {
            var dtype = plans[input].Result;
            if (dtype == StaticDtype.Fp16 || (dtype == StaticDtype.Bf16 && halfInput == StaticDtype.Unknown))
            {
                halfInput = dtype;
            }
        }

        return new ExpressionPrecision(plans[innermost].RunsIn, ClassDefault, body.Nodes[innermost].Name, plans[innermost].Why, halfInput);
    }
}
