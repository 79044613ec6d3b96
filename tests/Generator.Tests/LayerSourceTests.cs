using System.Linq;
using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Planning;
using PrecisionDsl.Generator.Policy;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// What the planner reads from the values written to members: the concrete layer behind a Module&lt;...&gt; member
/// (else PDSL013), and the layers inside a container for the plan table.
/// </summary>
public sealed class LayerSourceTests
{
    private static ModelPlan Plan(string model)
    {
        var compilation = GeneratorHarness.Compile(("Model.cs", SnapshotTests.Usings + model));
        // Only the forward the generator (not run here) adds is missing.
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS0534").Select(d => d.ToString()));
        return PrecisionAnalysis.Analyze(compilation.GetTypeByMetadataName("M")!, compilation, default)!;
    }

    private static string Rows(ModelPlan plan, string layer) =>
        string.Join("\n", plan.Layer(layer)!.Contents.Select(c => $"{c.Subject} ({c.TypeName}) {c.Precision}: {c.Reason}"));

    [Fact]
    public void Base_typed_members_are_planned_as_the_layer_assigned_to_them()
    {
        var plan = Plan("""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> conv1 = Conv2d(1, 32, 3);
                private Module<Tensor, Tensor> fc;
                private Module<Tensor, Tensor> norm;
                public M() : base("M")
                {
                    fc = Linear(10, 5);
                    this.norm = LayerNorm(5);
                    RegisterComponents();
                }
                public M(int size) : base("M") { fc = Linear(size, 5); norm = LayerNorm(5); }
                [Forward] Tensor F(Tensor x) => norm.call(fc.call(conv1.call(x)));
            }
            """);

        Assert.Equal((Model.PrecisionKind.Bf16, "Conv2d", LayerCategory.Compute), (plan.Layer("conv1")!.Kind, plan.Layer("conv1")!.TypeName, plan.Layer("conv1")!.Category));
        Assert.Equal((Model.PrecisionKind.Bf16, "Linear"), (plan.Layer("fc")!.Kind, plan.Layer("fc")!.TypeName));
        Assert.Equal((Model.PrecisionKind.Fp32, "LayerNorm", LayerCategory.Sensitive), (plan.Layer("norm")!.Kind, plan.Layer("norm")!.TypeName, plan.Layer("norm")!.Category));
        Assert.Empty(plan.Problems);
    }

    [Theory]
    [InlineData("private Module<Tensor, Tensor> head;", "", "no value is assigned")]
    [InlineData("private Module<Tensor, Tensor> head;", "head = Linear(4, 4); if (x > 1) head = Conv1d(4, 4, 1);", "different types (Linear, Conv1d)")]
    [InlineData("private Module<Tensor, Tensor> head;", "head = stem;", "assigned 'stem' of type")]
    [InlineData("private Module<Tensor, Tensor> head = Linear(4, 4);", "head = Make();", "assigned 'Make()'")]
    [InlineData("private Module<Tensor, Tensor>? head = Linear(4, 4);", "if (x > 1) head = null;", "assigned 'null'")]
    public void Unresolved_base_typed_member_runs_fp32_and_is_reported(string member, string constructor, string why)
    {
        var plan = Plan($$"""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                {{member}}
                public M(Module<Tensor, Tensor> stem, int x) : base("M") { {{constructor}} }
                private static Module<Tensor, Tensor> Make() => Linear(4, 4);
                [Forward] Tensor F(Tensor x) => head!.call(x);
            }
            """);

        var problem = Assert.Single(plan.Problems);
        Assert.Equal((RuleIds.LayerTypeNotVisible, "head"), (problem.RuleId, problem.Subject));
        Assert.Contains(why, problem.Detail);
        Assert.Equal(Model.PrecisionKind.Fp32, plan.Layer("head")!.Kind);
        Assert.Contains("fp32, inputs cast to fp32", plan.Layer("head")!.Reason);
    }

    [Fact]
    public void Unannotated_user_module_says_why_it_runs_fp32()
    {
        var plan = Plan("""
            public sealed class Block : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public Block() : base("Block") => RegisterComponents();
                public override Tensor forward(Tensor x) => fc.call(x);
            }

            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                private readonly Block block = new Block();
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => block.call(x);
            }
            """);

        Assert.Equal(Model.PrecisionKind.Fp32, plan.Layer("block")!.Kind);
        Assert.Equal("user module Block has no precision attributes: fp32, inputs cast to fp32; annotate it to make it a precision model", plan.Layer("block")!.Reason);
        var problem = Assert.Single(plan.Problems);
        Assert.Equal((RuleIds.UnknownLayerInHalfModel, "block"), (problem.RuleId, problem.Subject));
    }

    [Fact]
    public void Layers_inside_a_Sequential_get_their_own_rows()
    {
        var plan = Plan("""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                private readonly Sequential features = Sequential(Conv2d(1, 8, 3), BatchNorm2d(8), ReLU(), Softmax(1));
                private readonly Module<Tensor, Tensor> named = Sequential(("conv", Conv2d(1, 8, 3)), ("act", ReLU()));
                public M() : base("M") { }
                [Forward] Tensor F(Tensor x) => named.call(features.call(x));
            }
            """);

        Assert.Equal("""
            features[0] (Conv2d) Bf16: layer inside container (class default [Bf16])
            features[1] (BatchNorm2d) Fp32: norm inside container: fp32, input cast to fp32
            features[2] (ReLU) input dtype: no weights: runs in the dtype it receives
            features[3] (Softmax) input dtype: no weights: runs in the dtype it receives
            """.Replace("\r\n", "\n").TrimEnd(), Rows(plan, "features"));
        Assert.Equal("""
            named.conv (Conv2d) Bf16: layer inside container (class default [Bf16])
            named.act (ReLU) input dtype: no weights: runs in the dtype it receives
            """.Replace("\r\n", "\n").TrimEnd(), Rows(plan, "named"));
        Assert.Equal("class default [Bf16]", plan.Layer("features")!.Reason);
    }

    [Fact]
    public void Layers_added_in_the_constructor_and_user_blocks_are_listed()
    {
        var plan = Plan("""
            public sealed class Block : Module<Tensor, Tensor>
            {
                private readonly Conv2d conv1 = Conv2d(8, 8, 3);
                private Module<Tensor, Tensor> norm;
                public Block() : base("Block") { norm = GroupNorm(2, 8); RegisterComponents(); }
                public override Tensor forward(Tensor x) => norm.call(conv1.call(x));
            }

            [Fp16] public partial class M : Module<Tensor, Tensor>
            {
                private readonly ModuleList<Module> blocks = new ModuleList<Module>(Linear(8, 8));
                private readonly ModuleList<Linear> heads = new ModuleList<Linear>(Linear(8, 2), Linear(8, 3));
                private readonly ModuleDict<Module<Tensor, Tensor>> byName = new ModuleDict<Module<Tensor, Tensor>>();
                public M(int depth) : base("M")
                {
                    blocks.Add(LSTM(8, 8));
                    for (var i = 0; i < depth; i++) blocks.Add(new Block());
                    blocks.append(Dropout());
                    byName.Add("proj", Linear(8, 8));
                    RegisterComponents();
                }
                [Forward] Tensor F(Tensor x) => heads[0].call(byName["proj"].call(x));
                [LossScaled] Tensor L(Tensor y, Tensor t) => y - t;
            }
            """);

        Assert.Equal("""
            blocks[0] (Linear) Fp16: layer inside container (class default [Fp16])
            blocks[1] (LSTM) Fp32: TorchSharp keeps LSTM's weights in native code: fp32, input cast to fp32
            blocks[*] (Block) per layer: user module inside container: each of its layers runs by its type
            blocks[*].conv1 (Conv2d) Fp16: layer of Block inside container (class default [Fp16])
            blocks[*].norm (GroupNorm) Fp32: norm of Block inside container: fp32, input cast to fp32
            blocks[*] (Dropout) input dtype: no weights: runs in the dtype it receives
            """.Replace("\r\n", "\n").TrimEnd(), Rows(plan, "blocks"));
        Assert.Equal("heads[0] (Linear),heads[1] (Linear)", string.Join(",", plan.Layer("heads")!.Contents.Select(c => $"{c.Subject} ({c.TypeName})")));
        Assert.Equal("byName.proj (Linear)", string.Join(",", plan.Layer("byName")!.Contents.Select(c => $"{c.Subject} ({c.TypeName})")));
    }

    [Theory]
    [InlineData("Sequential features = Sequential(Stem());", "")]
    [InlineData("ModuleList<Linear> features = new ModuleList<Linear>(Linear(2, 2));", "features.extend(new[] { Linear(2, 2) });")]
    [InlineData("Sequential features = Sequential(Linear(2, 2));", "if (deep) features = Sequential(Linear(2, 2), ReLU());")]
    [InlineData("ModuleList<Linear> features = new ModuleList<Linear>();", "Grow();")]
    public void Contents_the_source_does_not_show_are_left_to_the_run_time(string member, string constructor)
    {
        var plan = Plan($$"""
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                private {{member}}
                public M(bool deep) : base("M") { {{constructor}} }
                private static Module<Tensor, Tensor>[] Stem() => new Module<Tensor, Tensor>[] { Linear(2, 2) };
                private void Grow() => features.append(Linear(2, 2));
                [Forward] Tensor F(Tensor x) => x;
            }
            """);

        Assert.Empty(plan.Layer("features")!.Contents);
        Assert.EndsWith("; contents decided at run time", plan.Layer("features")!.Reason);
    }
}
