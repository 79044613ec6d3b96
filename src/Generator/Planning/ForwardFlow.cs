using System.Collections.Generic;
using System.Linq;
using System.Threading;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Planning;

/// <summary>
/// Decides, for every tensor expression of the forward body, the dtype it runs in and which of its inputs
/// need a cast. Casts are elided only where the input's dtype is known statically: dtypes flow from layer
/// calls and policy ops through pass-through ops, operators and locals (a local's dtype is the join of every
/// value assigned to it, so loops and branches stay sound). Anything else is Unknown and gets a cast, which
/// the runtime turns into a no-op when the dtype already matches.
/// </summary>
internal sealed class ForwardFlow
{
    private const int MaxIterations = 16;

    private readonly ForwardBody body;
    private readonly string? helper;
    private readonly PrecisionKind region;
    private readonly Dictionary<string, LayerPlan> layers;
    private readonly CancellationToken cancellationToken;
    private readonly StaticDtype?[] results;
    private readonly StaticDtype?[] locals;
    private readonly List<int>[] parents;
    private readonly StaticDtype?[] storedIn;

    /// <param name="helper">The helper whose body this is; null for the [Forward] body.</param>
    public ForwardFlow(ForwardBody body, string? helper, PrecisionKind region, EquatableArray<LayerPlan> layers, CancellationToken cancellationToken)
    {
        this.body = body;
        this.helper = helper;
        this.region = region;
        // Two members of one name are a compile error of the user's; the first one is planned, nothing throws.
        this.layers = layers.GroupBy(l => l.Name).ToDictionary(g => g.Key, g => g.First());
        this.cancellationToken = cancellationToken;
        results = new StaticDtype?[body.Nodes.Count];
        locals = new StaticDtype?[body.Locals.Count];
        parents = body.Nodes.Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < body.Nodes.Count; i++)
        {
            foreach (var input in body.Nodes[i].Inputs)
            {
                parents[input].Add(i);
            }
        }

        // Which nodes store their result in half depends only on what reads them, not on dtypes: decided once.
        storedIn = new StaticDtype?[body.Nodes.Count];
        for (var i = 0; i < body.Nodes.Count; i++)
        {
            storedIn[i] = HalfStorage(i);
        }
    }

    /// <summary>The plan of every node of the body; op sites and PDSL010 problems are added to the lists.</summary>
    public EquatableArray<NodePlan> Plan(List<OpPlan> ops, List<PlanProblem> problems)
    {
        // Monotone over a lattice of height 3 (unset < known dtype < Unknown), so this converges quickly.
        for (var iteration = 0; iteration < MaxIterations; iteration++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var changed = false;
            for (var i = 0; i < body.Nodes.Count; i++)
            {
                var result = Decide(i).Result;
                changed |= results[i] != result;
                results[i] = result;
            }

            for (var l = 0; l < body.Locals.Count; l++)
            {
                var local = body.Locals[l];
                var dtype = local.Untracked ? StaticDtype.Unknown : Join(local.AssignedNodes.Select(n => results[n]));
                changed |= locals[l] != dtype;
                locals[l] = dtype;
            }

            if (!changed)
            {
                break;
            }
        }

        var plans = new List<NodePlan>(body.Nodes.Count);
        for (var i = 0; i < body.Nodes.Count; i++)
        {
            var node = body.Nodes[i];
            var decision = Decide(i);
            // A run-time cast target (Precision.Widest) is applied to every input.
            var casts = decision.CastTarget is { } target
                ? node.Inputs.Where(input => target == StaticDtype.Unknown || (results[input] ?? StaticDtype.Unknown) != target).ToEquatableArray()
                : EquatableArray<int>.Empty;
            var stored = storedIn[i] is not null;
            var runsIn = stored ? StaticDtype.Fp32 : decision.CastTarget ?? decision.Result ?? StaticDtype.Unknown;
            plans.Add(new NodePlan(decision.Result ?? StaticDtype.Unknown, runsIn, casts, decision.Why, decision.Promote, stored));
            Record(node, decision, runsIn, ops, problems);
        }

        return plans.ToEquatableArray();
    }

    private void Record(ExprNode node, Decision decision, StaticDtype runsIn, List<OpPlan> ops, List<PlanProblem> problems)
    {
        if (node.Kind != ExprKind.Op || decision.Category == OpCategory.PassThrough)
        {
            return; // layers are in the plan's layer rows; pass-through ops have no precision of their own
        }

        var subject = helper is null ? node.Name : $"{node.Name} in {helper}";
        ops.Add(new OpPlan(node.Name, subject, decision.Category, runsIn, decision.Why, node.Location));
        if (decision.Category == OpCategory.Fp32 && PromotedFromHalf(node) is { } detail)
        {
            problems.Add(new PlanProblem(RuleIds.Fp32OpPromoted, node.Location, node.Name, detail));
        }
    }

    /// <summary>
    /// PDSL010's detail when an fp32-list op receives a half tensor: an input is half statically (in any model), or an
    /// input's dtype is known only at run time inside a half model, where it is likely half. Null otherwise: inputs
    /// that are fp32 statically need no cast.
    /// </summary>
    private string? PromotedFromHalf(ExprNode node)
    {
        var inputs = node.Inputs.Select(input => results[input] ?? StaticDtype.Unknown).ToArray();
        if (inputs.Where(dtype => dtype is StaticDtype.Fp16 or StaticDtype.Bf16).Select(dtype => (StaticDtype?)dtype).FirstOrDefault() is { } half)
        {
            return $"{node.Name} receives a {half} tensor and runs in fp32 (op policy: fp32 list)";
        }

        var knownOnlyAtRunTime = inputs.Length == 0 || inputs.Contains(StaticDtype.Unknown);
        return knownOnlyAtRunTime && region != PrecisionKind.Fp32
            ? $"{node.Name} runs in fp32 inside a [{region}] model (op policy: fp32 list)"
            : null;
    }

    private readonly record struct Decision(StaticDtype? Result, StaticDtype? CastTarget, OpCategory Category, string Why, RuntimePromote Promote = RuntimePromote.None);

    private Decision Decide(int index)
    {
        var node = body.Nodes[index];
        switch (node.Kind)
        {
            case ExprKind.Local:
                return new Decision(node.LocalIndex >= 0 && node.LocalIndex < locals.Length ? locals[node.LocalIndex] : StaticDtype.Unknown, null, OpCategory.PassThrough, "");
            case ExprKind.Parameter:
            case ExprKind.Opaque:
                return new Decision(StaticDtype.Unknown, null, OpCategory.PassThrough, "");
            case ExprKind.Operator:
                return new Decision(Widest(node), null, OpCategory.PassThrough, "");
            case ExprKind.Join:
                return new Decision(Join(node.Inputs.Select(i => results[i])), null, OpCategory.PassThrough, "");
            case ExprKind.LayerCall:
                return DecideLayerCall(node);
            case ExprKind.UnknownModuleCall:
                return DecideModuleCall(node, OpPolicy.CategoryOfLayer(node.ModuleType, isModule: true, isPrecisionModel: false), PrecisionKind.Fp32, OpPolicy.DisplayName(node.ModuleType), "a module not held by a member runs in fp32");
            default:
                return storedIn[index] is { } stored
                    ? new Decision(stored, null, OpCategory.Fp32, $"{node.Name}: fp32 list, computed in fp32; stored in {stored} as every reader runs in {stored}")
                    : DecideOp(node);
        }
    }

    /// <summary>
    /// The half dtype a half-stored op (<see cref="OpPolicy.HalfStoredOp"/>, routable as written) stores its result in:
    /// the one its readers cast it to, when every reader is a half op or half layer — the op itself, or the local it is
    /// the whole value of in a statement (at any depth, e.g. in a loop over layers), assigned nowhere else, read only
    /// there. Null otherwise.
    /// </summary>
    private StaticDtype? HalfStorage(int index)
    {
        var node = body.Nodes[index];
        if (node.Kind != ExprKind.Op || node.HasExplicitDtype || !body.RoutedCalls.Any(call => call.HalfStored && call.Span == node.Span))
        {
            return null;
        }

        var assignedTo = Enumerable.Range(0, body.Locals.Count).Where(l => body.Locals[l].AssignedNodes.Contains(index)).ToArray();
        int[] readers;
        if (assignedTo.Length == 0)
        {
            readers = new[] { index };
        }
        else
        {
            var local = body.Locals[assignedTo[0]];
            // The whole value of `var w = op(...);` or `w = op(...);`: a value inside a larger expression could flow elsewhere too.
            if (assignedTo.Length > 1 || local.Untracked || local.AssignedNodes.Count != 1 || parents[index].Count > 0
                || !body.StatementValues.Contains(node.Span))
            {
                return null;
            }

            readers = Enumerable.Range(0, body.Nodes.Count).Where(n => body.Nodes[n].Kind == ExprKind.Local && body.Nodes[n].LocalIndex == assignedTo[0]).ToArray();
        }

        StaticDtype? dtype = null;
        foreach (var reader in readers)
        {
            if (parents[reader].Count != 1 || Decide(parents[reader][0]) is not { Category: OpCategory.Half, Promote: RuntimePromote.None, CastTarget: StaticDtype.Fp16 or StaticDtype.Bf16 } read
                || (dtype is not null && dtype != read.CastTarget))
            {
                return null;
            }

            dtype = read.CastTarget;
        }

        return dtype;
    }

    private Decision DecideLayerCall(ExprNode node)
    {
        if (!layers.TryGetValue(node.Name, out var layer))
        {
            return new Decision(StaticDtype.Unknown, null, OpCategory.PassThrough, "");
        }

        if (layer.Category != LayerCategory.Container || node.ModuleType.Length == 0)
        {
            return DecideModuleCall(node, layer.Category, layer.Kind, node.Name, layer.Reason);
        }

        // An element of a container: the container's precision applied to the element's layer type.
        var elementCategory = OpPolicy.CategoryOfLayer(node.ModuleType, isModule: true, isPrecisionModel: false);
        var elementName = OpPolicy.DisplayName(node.ModuleType);
        return elementCategory switch
        {
            LayerCategory.Sensitive or LayerCategory.NativeWeights => DecideModuleCall(node, elementCategory, PrecisionKind.Fp32, $"{node.Name}[]", $"{elementName} in {node.Name}: stays fp32 inside a container"),
            LayerCategory.Compute or LayerCategory.PassThrough => DecideModuleCall(node, elementCategory, layer.Kind, $"{node.Name}[]", $"{elementName} in {node.Name}: {layer.Reason}"),
            _ => DecideModuleCall(node, LayerCategory.Container, layer.Kind, $"{node.Name}[]", $"element of {node.Name}: {layer.Reason}"),
        };
    }

    private Decision DecideModuleCall(ExprNode node, LayerCategory category, PrecisionKind kind, string subject, string reason)
    {
        var dtype = kind.ToStatic();
        var why = $"{subject}: {kind} ({reason})";
        switch (category)
        {
            case LayerCategory.Compute:
            case LayerCategory.Sensitive:
            case LayerCategory.NativeWeights:
                return new Decision(node.ReturnsTensor ? dtype : StaticDtype.Unknown, dtype, OpCategory.Half, why);
            case LayerCategory.Container:
                return new Decision(StaticDtype.Unknown, dtype, OpCategory.Half, why);
            case LayerCategory.PassThrough:
                return new Decision(node.ReturnsTensor ? Widest(node) : StaticDtype.Unknown, null, OpCategory.PassThrough, "");
            case LayerCategory.PrecisionModel:
                return new Decision(StaticDtype.Unknown, null, OpCategory.PassThrough, "");
            default:
                return new Decision(StaticDtype.Unknown, StaticDtype.Fp32, OpCategory.Fp32, $"{subject}: Fp32 ({reason})");
        }
    }

    private Decision DecideOp(ExprNode node)
    {
        var category = OpPolicy.CategoryOf(node.Name);
        var explicitResult = node.HasExplicitDtype ? StaticDtype.Unknown : (StaticDtype?)null;
        switch (category)
        {
            case OpCategory.Half:
                var half = region.ToStatic();
                return new Decision(explicitResult ?? half, half, category, $"{node.Name}: half list, runs in the model's {region}");
            case OpCategory.Fp32:
                return new Decision(explicitResult ?? StaticDtype.Fp32, StaticDtype.Fp32, category, $"{node.Name}: fp32 list");
            case OpCategory.Promote:
                var widest = Widest(node);
                return widest is StaticDtype.Unknown or null
                    ? DecideRuntimePromote(node)
                    : new Decision(explicitResult ?? widest, widest, category, $"{node.Name}: promote list, widest input {widest}");
            case OpCategory.DtypeChanging:
                return new Decision(StaticDtype.Unknown, null, category, $"{node.Name}: sets its own dtype (a manual cast)");
            case OpCategory.SelfDtype:
                return new Decision(explicitResult ?? (node.Inputs.Count == 0 ? StaticDtype.Unknown : results[node.Inputs[0]]), null, OpCategory.PassThrough, "");
            default:
                return new Decision(explicitResult ?? (node.Inputs.Count == 0 ? StaticDtype.Unknown : Widest(node)), null, category, "");
        }
    }

    /// <summary>
    /// Casts to <c>Precision.Widest</c> of the inputs without evaluating any input twice: literal collections
    /// are passed through a helper, inputs that are plain locals or parameters are named twice; otherwise fp32,
    /// which holds every input exactly.
    /// </summary>
    private Decision DecideRuntimePromote(ExprNode node)
    {
        var why = $"{node.Name}: promote list, cast to the widest input";
        if (node.CollectionArguments.Count > 0
            && node.Inputs.All(input => node.CollectionArguments.Any(collection => collection.Contains(body.Nodes[input].Span))))
        {
            return new Decision(StaticDtype.Unknown, null, OpCategory.Promote, why, RuntimePromote.WrapCollections);
        }

        if (node.Inputs.All(input => body.Nodes[input].Kind is ExprKind.Local or ExprKind.Parameter))
        {
            return new Decision(StaticDtype.Unknown, StaticDtype.Unknown, OpCategory.Promote, why, RuntimePromote.WidestOfInputs);
        }

        return new Decision(StaticDtype.Unknown, StaticDtype.Fp32, OpCategory.Promote, $"{node.Name}: promote list, widest input known only at run time: fp32 holds every input");
    }

    /// <summary>Torch type promotion between floating tensors, as far as it is known statically.</summary>
    private StaticDtype? Widest(ExprNode node)
    {
        var dtypes = node.Inputs.Select(i => results[i]).Where(d => d is not null).Select(d => d!.Value).Distinct().ToArray();
        if (dtypes.Length == 0)
        {
            return node.Inputs.Count == 0 ? StaticDtype.Unknown : null;
        }

        if (dtypes.Contains(StaticDtype.Unknown))
        {
            return StaticDtype.Unknown;
        }

        if (dtypes.Length == 1)
        {
            return dtypes[0];
        }

        // Fp16 next to Bf16 may be one dtype at run time (fp16 maps to bf16 on CPU) or promote to fp32.
        return dtypes.Contains(StaticDtype.Fp32) ? StaticDtype.Fp32 : StaticDtype.Unknown;
    }

    private static StaticDtype? Join(IEnumerable<StaticDtype?> dtypes)
    {
        StaticDtype? joined = null;
        foreach (var dtype in dtypes)
        {
            if (dtype is null)
            {
                continue;
            }

            joined = joined is null || joined == dtype ? dtype : StaticDtype.Unknown;
        }

        return joined;
    }
}
