using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Planning;

/// <summary>
/// Decides where the generated forward frees tensors before its dispose scope ends (pure; the parser's
/// <see cref="BodyLiveness"/> in, the emitter's <see cref="StatementLiveness"/> out). Three things, all on
/// statements of the outermost block, so loops and branches are whole statements and nothing inside them is freed:
/// <list type="bullet">
/// <item>A closed value (<see cref="TopStatement.ValueIsClosed"/>) of <c>var h = ...;</c> or <c>h = ...;</c> runs in a
/// dispose scope of its own: its unnamed temporaries (casts, pre-division products, views) die with the statement.</item>
/// <item>A tensor local is freed right after the last statement that uses it, when every value it ever holds was
/// created by the forward and no use lets the reference escape. Locals that may be one object (a layer that returns
/// its input) form one group and are freed together, once all are dead; a group holding a parameter, field or
/// escaped local is never freed.</item>
/// <item><c>h = f(h);</c> frees h's previous value (unless it is the new one) when h is such a local on its own.</item>
/// </list>
/// </summary>
internal static class Liveness
{
    /// <param name="body">The [Forward] body with its liveness facts.</param>
    /// <param name="plans">The casts planned per node of <paramref name="body"/>: each is a temporary too.</param>
    public static EquatableArray<StatementLiveness> Plan(ForwardBody body, EquatableArray<NodePlan> plans)
    {
        var statements = body.Liveness.Statements;
        var locals = body.Liveness.Locals;
        var group = Groups(locals);
        var releasable = Enumerable.Range(0, locals.Count)
            .Select(i => Enumerable.Range(0, locals.Count).Where(j => group[j] == group[i]).All(j => IsOwned(locals[j])))
            .ToArray();
        var lastUse = locals.Select(LastUse).ToArray();
        var groupLastUse = Enumerable.Range(0, locals.Count)
            .Select(i => Enumerable.Range(0, locals.Count).Where(j => group[j] == group[i]).Max(j => lastUse[j]))
            .ToArray();

        var result = new List<StatementLiveness>();
        for (var s = 0; s < statements.Count; s++)
        {
            var statement = statements[s];
            var assigned = statement.Assigned;
            var scopes = assigned >= 0 && statement.ValueIsClosed && !locals[assigned].IsUsing && CreatesTemporaries(body, plans, statement);
            var replaces = assigned >= 0 && !statement.IsDeclaration && releasable[assigned]
                && IsAlone(group, assigned)
                ? locals[assigned].Name
                : "";
            var released = statement.EndReachable
                ? Enumerable.Range(0, locals.Count).Where(i => releasable[i] && groupLastUse[i] == s).Select(i => locals[i].Name).ToEquatableArray()
                : EquatableArray<string>.Empty;
            if (scopes || replaces.Length > 0 || released.Count > 0)
            {
                result.Add(new StatementLiveness(s, scopes, replaces, released));
            }
        }

        return result.ToEquatableArray();
    }

    /// <summary>Whether computing the value leaves tensors besides itself: an inner op, operator or layer call, a cast, or a half-stored op.</summary>
    private static bool CreatesTemporaries(ForwardBody body, EquatableArray<NodePlan> plans, TopStatement statement)
    {
        for (var i = 0; i < body.Nodes.Count; i++)
        {
            var node = body.Nodes[i];
            if (!statement.Value.Contains(node.Span))
            {
                continue;
            }

            var inner = node.Span != statement.Value && node.Kind is ExprKind.Op or ExprKind.Operator or ExprKind.LayerCall or ExprKind.UnknownModuleCall;
            // A half-stored op runs as a TorchSharp autograd function, which keeps an output-sized buffer in the scope.
            if (inner || plans[i].CastInputs.Count > 0 || plans[i].Promote == RuntimePromote.WrapCollections || plans[i].StoredInHalf)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Every value the forward created, never escaped, never the user's own <c>using</c>; assigned from the start,
    /// so a disposal after any use compiles (no CS0165).</summary>
    private static bool IsOwned(TrackedLocal local) =>
        !local.IsUsing
        && local.HasInitializer
        && local.Uses.All(use => use.Kind == UseKind.Read)
        && local.Values.All(value => value.Origin != ValueOrigin.Unknown);

    private static int LastUse(TrackedLocal local) =>
        local.Uses.Select(use => use.Statement).Concat(local.Values.Select(value => value.Statement)).Concat(new[] { local.Declared }).Max();

    private static bool IsAlone(int[] group, int local) => group.Count(g => g == group[local]) == 1;

    /// <summary>Union of locals that may hold one object (through <see cref="LocalValue.MayBe"/>): the group's smallest index.</summary>
    private static int[] Groups(EquatableArray<TrackedLocal> locals)
    {
        var parent = Enumerable.Range(0, locals.Count).ToArray();
        int Find(int i) => parent[i] == i ? i : parent[i] = Find(parent[i]);
        for (var i = 0; i < locals.Count; i++)
        {
            foreach (var other in locals[i].Values.SelectMany(value => value.MayBe))
            {
                var (a, b) = (Find(i), Find(other));
                parent[System.Math.Max(a, b)] = System.Math.Min(a, b);
            }
        }

        return Enumerable.Range(0, locals.Count).Select(Find).ToArray();
    }
}
