// The planner: the one place that decides which dtype every layer and op of a precision model runs in.
//
// API for the analyzers (same assembly; everything is internal):
//
//   ModelPlan? PrecisionAnalysis.Analyze(INamedTypeSymbol type, Compilation compilation, CancellationToken ct)
//       Parses and plans a class; null when it is not a class declared in source. Call it for any class
//       for which SymbolFacts.IsPrecisionModel(type) is true.
//   ModelPlan PrecisionPlanner.Plan(ModelSpec model, CancellationToken ct)
//       The same from an already parsed ModelSpec (what the generator does).
//
//   ModelPlan.Problems           model-level problems as data: PlanProblem(RuleId, Location, Subject, Detail),
//                                RuleId one of RuleIds (PDSL001-004, 006-015); RuleCatalog has the rest.
//                                Location is a LocationInfo; LocationInfo.ToLocation() makes a Roslyn Location.
//                                PlanProblem.IsError marks the rules for which the generator emits only a
//                                throwing forward. Removable (PDSL011) tells the code fix the cast can go.
//   ModelPlan.Layers             every layer member: its PrecisionKind, category and reason.
//   ModelPlan.Ops                every op/module call site in [Forward] the op policy acts on, with the dtype it runs in.
//   ModelPlan.PrecisionAt(path, span)
//                                the dtype the expression at `span` runs in (ExpressionPrecision.RunsIn, ComputedIn,
//                                the model's Region, IsHalf): for a literal inside [Forward] or a rewritten helper, the
//                                innermost tensor operation containing it; for a literal in a layer member's
//                                initializer (e.g. LayerNorm(256, eps: 1e-8)), that layer's precision. Null when
//                                the span is in neither.
//   ModelPlan.Forward            the rewrite: ForwardBody (nodes = tensor expressions, with spans) and one NodePlan per
//                                node (Result dtype, RunsIn, CastInputs), plus the helpers it rewrites.
//
// Decisions: member attribute > class attribute > fp32; the op policy (OpPolicy.cs) applies on top; see SPEC
// section 4 and docs/ARCHITECTURE.md "Planner".
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Parsing;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.Generator.Planning;

/// <summary>Entry point for analyzers: parse and plan a class in one call.</summary>
internal static class PrecisionAnalysis
{
    public static ModelPlan? Analyze(INamedTypeSymbol type, Compilation compilation, CancellationToken cancellationToken) =>
        ModelParser.Parse(type, compilation, cancellationToken) is { } model ? PrecisionPlanner.Plan(model, cancellationToken) : null;
}

/// <summary>Resolves the precision of every layer and op of a <see cref="ModelSpec"/>.</summary>
internal static class PrecisionPlanner
{
    public static ModelPlan Plan(ModelSpec model, CancellationToken cancellationToken)
    {
        var problems = new List<PlanProblem>();
        var classDefault = ResolveClassDefault(model, problems);
        var layers = model.Members
            .Select(member => PlanLayer(member, classDefault, problems))
            .Where(layer => layer is not null)
            .Select(layer => layer!)
            .ToEquatableArray();
        CheckShape(model, problems);
        CheckManualCasts(model, problems);
        CheckBaseForwardCalls(model, problems);

        // The generated training members call the loss by name with plain values: only one loss method can
        // be called unambiguously, and only with parameters a call passes as values.
        var losses = model.LossMethods.Where(l => l.ReturnsTensor && l.FirstParameterTakesResult && l.IsCallableWithValues).Take(2).ToArray();
        var loss = model.LossMethods.Count == 1 && losses.Length == 1 ? losses[0] : null;
        ForwardPlan? forward = null;
        var ops = new List<OpPlan>();
        if (!problems.Any(p => p.IsError) && model.ForwardMethods.Count == 1 && model.ForwardMethods[0].Body is { } body)
        {
            var nodes = new ForwardFlow(body, null, classDefault, layers, cancellationToken).Plan(ops, problems);
            var helpers = body.Helpers
                .Select(helper =>
                {
                    var plans = new ForwardFlow(helper.Body, helper.Name, classDefault, layers, cancellationToken).Plan(ops, problems);
                    return new HelperPlan(helper, plans, plans.Any(CastsToHalf));
                })
                .ToEquatableArray();
            forward = new ForwardPlan(model.ForwardMethods[0], body, nodes, helpers, Liveness.Plan(body, nodes));
        }

        CheckLossScaling(model, layers, ops, problems);
        return new ModelPlan(model, OutputOf(model, forward), classDefault, layers, forward, Numbered(ops), problems.ToEquatableArray(), loss);
    }

    private static GeneratedOutput OutputOf(ModelSpec model, ForwardPlan? forward)
    {
        // A partial repeats the class header and overrides Module's forward: only a well-formed plain Module class without a forward of its own can take one.
        if (!model.IsPlainClass || !model.IsWellFormed || !model.DerivesFromModule || model.DeclaresForward)
        {
            return GeneratedOutput.None;
        }

        if (!model.IsPartial || !model.ContainingTypesArePartial)
        {
            // An abstract class does not have to implement forward: no CS0534 hides the analyzers' PDSL001.
            return model.IsAbstract ? GeneratedOutput.None : GeneratedOutput.NotPartialError;
        }

        return forward is null ? GeneratedOutput.ThrowingForward : GeneratedOutput.Model;
    }

    /// <summary>Whether a node casts an input to a half dtype (read from the forward scope in the generated code).</summary>
    private static bool CastsToHalf(NodePlan node) =>
        node.CastInputs.Count > 0 && node.Promote != RuntimePromote.WidestOfInputs && node.RunsIn is StaticDtype.Fp16 or StaticDtype.Bf16;

    /// <summary>Numbers the subjects that occur more than once, in source order: "matmul #1", "matmul #2".</summary>
    private static EquatableArray<OpPlan> Numbered(List<OpPlan> ops)
    {
        var totals = ops.GroupBy(op => op.Subject).ToDictionary(group => group.Key, group => group.Count());
        var seen = new Dictionary<string, int>();
        return ops.Select(op =>
        {
            seen[op.Subject] = seen.TryGetValue(op.Subject, out var count) ? count + 1 : 1;
            return totals[op.Subject] == 1 ? op : op with { Subject = $"{op.Subject} #{seen[op.Subject]}" };
        }).ToEquatableArray();
    }

    private static PrecisionKind ResolveClassDefault(ModelSpec model, List<PlanProblem> problems)
    {
        var attributes = model.ClassAttributes;
        if (attributes.Count == 0)
        {
            return PrecisionKind.Fp32;
        }

        ReportConflicts(model.Name, attributes, problems);
        return attributes[0].Kind;
    }

    private static void ReportConflicts(string subject, EquatableArray<PrecisionAttributeUse> attributes, List<PlanProblem> problems)
    {
        if (attributes.Select(a => a.Kind).Distinct().Count() > 1)
        {
            var names = "conflicting precision attributes " + string.Join(", ", attributes.Select(a => "[" + a.Name + "]"));
            foreach (var extra in attributes.Skip(1))
            {
                problems.Add(new PlanProblem(RuleIds.ConflictingAttributes, extra.Location, subject, names));
            }
        }
    }

    private static LayerPlan? PlanLayer(MemberSpec member, PrecisionKind classDefault, List<PlanProblem> problems)
    {
        ReportConflicts(member.Name, member.Attributes, problems);
        var category = OpPolicy.CategoryOfLayer(member.LayerType, member.IsModule, member.IsPrecisionModel);
        var typeName = member.IsModule ? OpPolicy.DisplayName(member.LayerType) : member.TypeDisplay;
        PrecisionAttributeUse? attribute = member.Attributes.Count > 0 ? member.Attributes[0] : null;
        if (member.Unresolved is { } why)
        {
            // PDSL013 says more than PDSL009 would about an annotated one.
            problems.Add(new PlanProblem(RuleIds.LayerTypeNotVisible, member.Location, member.Name, why));
        }
        else if (attribute is { } annotated && !(category == LayerCategory.NativeWeights && annotated.Kind == PrecisionKind.Fp32))
        {
            ReportUnknownAnnotated(member, category, typeName, annotated, problems);
        }
        else if (attribute is null && category == LayerCategory.Unknown && !member.IsStatic && classDefault != PrecisionKind.Fp32)
        {
            // SPEC section 4: an unknown module type runs in fp32 "and a diagnostic says so"; in a half model that is a surprise.
            problems.Add(new PlanProblem(RuleIds.UnknownLayerInHalfModel, member.Location, member.Name, member.IsUserModule
                ? $"its type {typeName} is neither a layer type the op policy knows nor a precision model; to run it in mixed precision, make {typeName} a precision model (its own [Fp16] or [Bf16] class attribute and a [Forward] method)"
                : $"the op policy does not know its type, TorchSharp's {typeName}"));
        }

        if (category == LayerCategory.NotAModule || member.IsStatic)
        {
            return null;
        }

        var (kind, reason) = ResolveLayer(category, typeName, attribute, classDefault);
        if (category == LayerCategory.Sensitive && attribute is { Kind: not PrecisionKind.Fp32 } forced)
        {
            problems.Add(new PlanProblem(RuleIds.SensitiveLayerInHalf, forced.Location, member.Name, $"{typeName} is numerically sensitive; [{forced.Name}] forces it to half"));
        }

        if (member.Unresolved is not null)
        {
            reason = $"layer type not visible in the source (declared {typeName}): fp32, inputs cast to fp32";
        }
        else if (member.IsUserModule)
        {
            reason = $"user module {typeName} has no precision attributes: fp32, inputs cast to fp32; annotate it to make it a precision model";
        }
        else if (category == LayerCategory.Container && member.Contents is null)
        {
            reason += "; contents decided at run time";
        }

        var contents = member.Contents is { } visible
            ? visible.Select(layer => PlanContained(member.Name, layer, kind, reason)).ToEquatableArray()
            : EquatableArray<ContainedLayerPlan>.Empty;
        return new LayerPlan(member.Name, typeName, category, kind, reason, member, contents);
    }

    /// <summary>How the run time treats a layer inside a container of precision <paramref name="kind"/> (SPEC section 4).</summary>
    private static ContainedLayerPlan PlanContained(string container, ContainedLayerSpec layer, PrecisionKind kind, string containerReason)
    {
        var typeName = layer.LayerType.Length == 0 ? "Module" : OpPolicy.DisplayName(layer.LayerType);
        var owner = layer.Block.Length == 0 ? "" : " of " + layer.Block;
        var category = OpPolicy.CategoryOfLayer(layer.LayerType, isModule: true, layer.IsPrecisionModel);
        var (precision, reason) = layer switch
        {
            { LayerType.Length: 0 } => ("run time", "type known only at run time: runs as its type there says"),
            { IsUserBlock: true } => ("per layer", $"user module{owner} inside container: each of its layers runs by its type"),
            _ when OpPolicy.IsNorm(layer.LayerType) => ("Fp32", $"norm{owner} inside container: fp32, input cast to fp32"),
            _ => category switch
            {
                LayerCategory.Compute => (kind.ToString(), $"layer{owner} inside container ({containerReason})"),
                LayerCategory.Container => (kind.ToString(), $"container{owner} inside container: each of its layers runs by its type"),
                LayerCategory.PrecisionModel => ("own plan", "nested precision model: keeps its own plan"),
                LayerCategory.NativeWeights => ("Fp32", $"TorchSharp keeps {typeName}'s weights in native code: fp32, input cast to fp32"),
                LayerCategory.PassThrough or LayerCategory.Sensitive => ("input dtype", "no weights: runs in the dtype it receives"),
                _ => ("Fp32", $"unknown layer type{owner} inside container: fp32 with fp32 input if it has weights"),
            },
        };
        return new ContainedLayerPlan(container + layer.Path, typeName, precision, reason);
    }

    private static void ReportUnknownAnnotated(MemberSpec member, LayerCategory category, string typeName, PrecisionAttributeUse attribute, List<PlanProblem> problems)
    {
        if (category is LayerCategory.NotAModule or LayerCategory.Unknown or LayerCategory.PrecisionModel or LayerCategory.NativeWeights)
        {
            var why = category switch
            {
                LayerCategory.NotAModule => $"{typeName} is not a module",
                LayerCategory.NativeWeights => $"TorchSharp keeps {typeName}'s weights in native code, so it runs in fp32",
                LayerCategory.PrecisionModel => $"{typeName} is a precision model and keeps its own plan",
                _ => $"{typeName} is not a layer type the op policy knows",
            };
            problems.Add(new PlanProblem(RuleIds.UnknownLayerAnnotated, attribute.Location, member.Name, why));
        }
    }

    /// <summary>Member attribute > class attribute > fp32, with the layer type's policy on top.</summary>
    internal static (PrecisionKind Kind, string Reason) ResolveLayer(LayerCategory category, string typeName, PrecisionAttributeUse? attribute, PrecisionKind classDefault)
    {
        switch (category)
        {
            case LayerCategory.PrecisionModel:
                return (PrecisionKind.Fp32, "nested precision model: keeps its own plan");
            case LayerCategory.NativeWeights:
                return (PrecisionKind.Fp32, $"TorchSharp keeps {typeName}'s weights in native code: fp32");
            case LayerCategory.Unknown:
            case LayerCategory.NotAModule:
                return (PrecisionKind.Fp32, $"unknown module type {typeName}: fp32, inputs cast to fp32");
            case LayerCategory.Sensitive when attribute is { } forced:
                return (forced.Kind, $"attribute [{forced.Name}] on a numerically sensitive layer");
            case LayerCategory.Sensitive:
                return (PrecisionKind.Fp32, classDefault == PrecisionKind.Fp32 ? "no precision attribute" : $"op policy: {typeName} is numerically sensitive, kept fp32");
            case LayerCategory.PassThrough:
                return (attribute?.Kind ?? classDefault, "no weights: runs in the dtype it receives");
        }

        if (attribute is { } member)
        {
            return (member.Kind, $"attribute [{member.Name}]");
        }

        return classDefault == PrecisionKind.Fp32
            ? (PrecisionKind.Fp32, "no precision attribute")
            : (classDefault, $"class default [{classDefault}]");
    }

    private static void CheckShape(ModelSpec model, List<PlanProblem> problems)
    {
        if (!model.IsPartial || !model.ContainingTypesArePartial)
        {
            var detail = model.IsPartial
                ? "a containing type is not partial: " + string.Join(", ", model.ContainingTypes.Where(c => !c.IsPartial).Select(c => c.Name))
                : "the class is not partial";
            problems.Add(new PlanProblem(RuleIds.NotPartial, model.Location, model.Name, detail));
        }

        if (!model.DerivesFromModule)
        {
            problems.Add(new PlanProblem(RuleIds.NotAModule, model.Location, model.Name, "it does not derive from torch.nn.Module<...>"));
            return;
        }

        // One problem per cause: a model that writes forward itself usually has no [Forward] method either.
        if (model.DeclaresForward)
        {
            problems.Add(new PlanProblem(RuleIds.ForwardProblem, model.Location, model.Name, model.ForwardMethods.Count == 0
                ? "it declares forward itself instead of a [Forward] method; move the body of forward into a method marked [Forward] and delete forward: the generator writes forward from that method"
                : "it declares forward itself, which the generator writes from the [Forward] method; delete the declared forward"));
        }
        else if (model.ForwardMethods.Count == 0)
        {
            problems.Add(new PlanProblem(RuleIds.ForwardProblem, model.Location, model.Name, "it has no [Forward] method"));
        }

        foreach (var extra in model.ForwardMethods.Skip(1))
        {
            problems.Add(new PlanProblem(RuleIds.ForwardProblem, extra.Location, extra.Name, $"it has more than one [Forward] method ({string.Join(", ", model.ForwardMethods.Select(f => f.Name))})"));
        }

        foreach (var forward in model.ForwardMethods.Where(f => f.SignatureProblem is not null))
        {
            problems.Add(new PlanProblem(RuleIds.ForwardProblem, forward.Location, forward.Name, "its signature does not match forward: " + forward.SignatureProblem));
        }

        foreach (var loss in model.LossMethods.Where(l => !l.ReturnsTensor))
        {
            problems.Add(new PlanProblem(RuleIds.LossNotTensor, loss.Location, loss.Name, $"it returns {loss.ReturnType}"));
        }

        CheckLossCall(model, problems);
    }

    /// <summary>
    /// The generated training members call the one loss method by name, passing the forward's result first and
    /// the step's other arguments as values: say why a Tensor-returning loss cannot be called that way.
    /// </summary>
    private static void CheckLossCall(ModelSpec model, List<PlanProblem> problems)
    {
        if (!model.DerivesFromModule)
        {
            return; // PDSL002
        }

        // Messages show types as written in code, without the generator's global:: qualification.
        static string Shown(string type) => type.Replace("global::", "");
        var result = Shown(model.ModuleTypeArguments[model.ModuleTypeArguments.Count - 1]);
        foreach (var loss in model.LossMethods.Where(l => l.ReturnsTensor))
        {
            var why = model.LossMethods.Count > 1
                ? $"the model has more than one [LossScaled] method ({string.Join(", ", model.LossMethods.Select(l => l.Name))}); keep the attribute on one"
                : loss.Parameters.Count == 0
                    ? $"it takes no parameters; its first must take the forward's result ({result})"
                    : !loss.IsCallableWithValues
                        ? "a call by name cannot pass its parameters as values (it is overloaded or generic, or has ref/out/in/params parameters)"
                        : !loss.FirstParameterTakesResult
                            ? $"its first parameter '{loss.Parameters[0].Name}' is {Shown(loss.Parameters[0].Type)}, not the forward's result type {result}"
                            : null;
            if (why is not null)
            {
                problems.Add(new PlanProblem(RuleIds.LossNotCallable, loss.Location, loss.Name, why));
            }
        }
    }

    /// <summary>
    /// PDSL011: a hand-written half cast in a [Forward] body or a helper the generator rewrites runs what follows in a
    /// dtype the plan does not show. Read from the parse alone, so a model rejected for another reason reports it too
    /// (but not one with several [Forward] methods: the parser reads a body only when there is one).
    /// </summary>
    private static void CheckManualCasts(ModelSpec model, List<PlanProblem> problems)
    {
        if (model.ForwardMethods.Count != 1 || model.ForwardMethods[0] is not { Body: { } body } forward)
        {
            return;
        }

        Report(body, $"inside [Forward] method '{forward.Name}'");
        foreach (var helper in body.Helpers)
        {
            Report(helper.Body, $"inside '{helper.Name}', which the generated forward calls rewritten");
        }

        void Report(ForwardBody code, string where)
        {
            foreach (var cast in code.ManualCasts.Where(c => c.Target is CastDtype.Float16 or CastDtype.BFloat16))
            {
                problems.Add(new PlanProblem(RuleIds.ManualCast, cast.Location, cast.Call, $"{cast.Target.ToString().ToLowerInvariant()} by hand {where}", cast.OnlyDtype));
            }
        }
    }

    /// <summary>
    /// PDSL014: <c>base.forward(...)</c> runs the base's generated forward under the base class's own state, and each
    /// class's state flattens all of the model's parameters, so the two states' buffers would fight over them.
    /// </summary>
    private static void CheckBaseForwardCalls(ModelSpec model, List<PlanProblem> problems)
    {
        if (model.ForwardMethods.Count != 1 || model.ForwardMethods[0].Body is not { } body)
        {
            return;
        }

        foreach (var call in body.Helpers.Select(h => h.Body).Prepend(body).SelectMany(code => code.BaseForwardCalls))
        {
            problems.Add(new PlanProblem(RuleIds.BaseForwardCall, call.Location, call.Call, $"runs the generated forward of the base precision model '{call.BaseModel}'"));
        }
    }

    /// <summary>
    /// PDSL006 when something runs in fp16: a layer with weights of its own (a container applies it to those inside)
    /// or a half-list op of the forward or a rewritten helper. An [Fp16] class whose layers all stay fp32 (norms,
    /// [KeepFp32], native-weight and unknown layers) and whose forward has no half-list op trains in fp32.
    /// </summary>
    private static void CheckLossScaling(ModelSpec model, EquatableArray<LayerPlan> layers, List<OpPlan> ops, List<PlanProblem> problems)
    {
        if (model.LossMethods.Count > 0)
        {
            return;
        }

        var fp16Attribute = model.ClassAttributes.Where(a => a.Kind == PrecisionKind.Fp16)
            .Concat(layers.SelectMany(l => l.Member.Attributes).Where(a => a.Kind == PrecisionKind.Fp16))
            .Select(a => (PrecisionAttributeUse?)a)
            .FirstOrDefault();
        var fp16Op = ops.FirstOrDefault(op => op.Category == OpCategory.Half && op.RunsIn == StaticDtype.Fp16);
        var what = layers.Any(l => l.HasOwnPrecision && l.Kind == PrecisionKind.Fp16) ? "fp16 layers"
            : fp16Op is not null ? $"{fp16Op.Name} in fp16"
            : null;
        if (fp16Attribute is { } attribute && what is not null)
        {
            problems.Add(new PlanProblem(RuleIds.Fp16WithoutLossScaling, attribute.Location, model.Name, what + " but no [LossScaled] loss method"));
        }
    }
}
