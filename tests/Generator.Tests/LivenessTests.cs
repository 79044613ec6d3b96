using System.Collections.Generic;
using System.Linq;
using PrecisionDsl.Generator.Planning;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// The liveness pass (<see cref="Liveness"/>) on real [Forward] bodies: which outermost statements get a dispose scope
/// of their own ("scope"), free the reassigned local's previous value ("replaces h") or free locals after their last
/// use ("release a, b"). Statements are numbered from 0 in the outermost block.
/// </summary>
public sealed class LivenessTests
{
    private static string[] Plan(string body) => Generate("\n" + body + "\n").Plan;

    /// <summary>The liveness plan of the forward whose body is <c>{</c> <paramref name="block"/> <c>}</c>, and the generated source.</summary>
    private static (string[] Plan, string Generated) Generate(string block)
    {
        var source = SnapshotTests.Usings + """
            [Bf16] public partial class M : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                private readonly Linear fc2 = Linear(4, 4);
                private readonly Dropout drop = Dropout(0.1);
                private Tensor? cache;
                public M() : base("M") { }
                private Tensor Helper(Tensor t) => t;
                private static void Swap(ref Tensor t) { }
                [Forward] private Tensor F(Tensor x)
            """ + " {" + block + "}\n}";
        var compilation = GeneratorHarness.Compile(("Model.cs", source));
        // The forward written with these insertions compiles without errors or warnings.
        var (generated, output, _) = GeneratorHarness.Run(compilation);
        Assert.Empty(output.GetDiagnostics()
            .Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error
                || (d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath != "Model.cs"))
            .Select(d => d.ToString()));
        var plan = PrecisionAnalysis.Analyze(compilation.GetTypeByMetadataName("M")!, compilation, default)!;
        return (plan.Forward!.Liveness.SelectMany(Describe).ToArray(), string.Concat(generated.Values));
    }

    private static IEnumerable<string> Describe(Model.StatementLiveness entry)
    {
        if (entry.ScopesTemporaries)
        {
            yield return entry.Statement + ": scope";
        }

        if (entry.Replaces.Length > 0)
        {
            yield return entry.Statement + ": replaces " + entry.Replaces;
        }

        if (entry.ReleasedAfter.Count > 0)
        {
            yield return entry.Statement + ": release " + string.Join(", ", entry.ReleasedAfter);
        }
    }

    [Fact]
    public void Straight_line_locals_are_freed_after_their_last_use_and_a_statement_with_a_cast_gets_its_own_scope()
    {
        Assert.Equal(
            new[] { "0: scope", "1: release a", "2: release b" },
            Plan("""
                var a = fc.call(x);
                var b = a * 2;
                var c = fc2.call(b);
                return c + x;
                """));
    }

    [Fact]
    public void Reassignment_frees_the_previous_value()
    {
        Assert.Equal(
            new[] { "0: scope", "1: replaces h", "2: replaces h", "3: scope", "3: replaces h" },
            Plan("""
                var h = fc.call(x);
                h = h.tanh();
                h = fc2.call(h);
                h = fc2.call(h.tanh());
                return h;
                """));
    }

    [Fact]
    public void A_loop_is_one_statement_nothing_inside_it_is_freed()
    {
        Assert.Equal(
            new[] { "0: scope", "2: release h", "3: release w" },
            Plan("""
                var h = fc.call(x);
                var w = h * 2;
                var acc = h * 0;
                for (var i = 0; i < 3; i++) { acc = acc + w; }
                return acc;
                """));
    }

    [Fact]
    public void A_branch_that_may_return_a_local_frees_it_only_on_the_path_that_goes_on()
    {
        Assert.Equal(
            new[] { "0: scope", "2: release g", "3: release h" },
            Plan("""
                var h = fc.call(x);
                var g = h * 2;
                if (h.shape[0] > 1) { return g; }
                var y = h + 1;
                return y;
                """));
    }

    [Fact]
    public void Nothing_is_inserted_after_a_statement_whose_end_is_unreachable()
    {
        Assert.Equal(
            new[] { "0: scope" },
            Plan("""
                var h = fc.call(x);
                if (h.shape[0] > 1) { return h; } else { return h * 2; }
                """));
    }

    [Fact]
    public void A_local_captured_by_a_lambda_or_local_function_is_never_freed()
    {
        Assert.DoesNotContain(Plan("""
            var h = fc.call(x);
            System.Func<Tensor> twice = () => h * 2;
            var y = twice() + 1;
            return y;
            """), d => d.Contains(" h"));
        Assert.DoesNotContain(Plan("""
            var h = fc.call(x);
            var y = Twice() + 1;
            return y;
            Tensor Twice() => h * 2;
            """), d => d.Contains(" h"));
    }

    [Theory]
    [InlineData("var y = h;")]
    [InlineData("var y = h.shape[0] > 0 ? h : x;")]
    [InlineData("cache = h; var y = x;")]
    [InlineData("var y = Helper(h);")]
    [InlineData("var y = h.MoveToOuterDisposeScope();")]
    [InlineData("register_buffer(\"b\", h); var y = x;")]
    [InlineData("var s = NewDisposeScope(); var y = s.MoveToOuter(h); s.Dispose();")]
    [InlineData("object o = h as object; var y = x;")]
    [InlineData("var y = x; h.Dispose();")]
    public void A_local_aliased_stored_or_handed_to_user_code_is_never_freed(string statement)
    {
        var plan = Plan("var h = fc.call(x);\n" + statement + "\nvar z = x * 2;\nvar w = z * 3;\nreturn w;");
        Assert.Contains(plan, d => d.EndsWith("release z", System.StringComparison.Ordinal));
        Assert.DoesNotContain(plan, d => d.Contains("release") && d.Split(' ', ',').Contains("h"));
    }

    [Theory]
    [InlineData("var y = h.add_(1);")]
    [InlineData("var y = h.to(ScalarType.Float32);")]
    [InlineData("var y = functional.relu(h, inplace: true);")]
    public void An_op_that_may_return_its_input_object_frees_input_and_result_together(string statement)
    {
        Assert.Equal(
            new[] { "0: scope", "1: release h, y", "3: release z" },
            Plan("var h = fc.call(x);\n" + statement + "\nvar z = x * 2;\nvar w = z * 3;\nreturn w;"));
    }

    [Fact]
    public void A_layer_that_may_return_its_input_frees_both_locals_together_once_both_are_dead()
    {
        Assert.Equal(
            new[] { "0: scope", "3: release h, d, z" },
            Plan("""
                var h = fc.call(x);
                var d = drop.call(h);
                var z = h * 2;
                var w = d * z;
                return w;
                """));
    }

    [Fact]
    public void Parameters_and_values_a_layer_may_pass_through_from_them_are_never_freed()
    {
        Assert.DoesNotContain(Plan("""
            var d = drop.call(x);
            var z = d * 2;
            return z;
            """), d => d.Contains("release"));
    }

    [Fact]
    public void A_local_passed_by_ref_or_out_is_never_freed()
    {
        Assert.DoesNotContain(Plan("""
            var h = fc.call(x);
            Swap(ref h);
            var z = h * 2;
            return z;
            """), d => d.Contains(" h"));
    }

    [Fact]
    public void A_using_declared_local_is_left_to_its_using()
    {
        Assert.Equal(
            new[] { "1: scope" },
            Plan("""
                using var mask = torch.ones(4, 4);
                var h = fc.call(x) * mask;
                return h;
                """));
    }

    [Fact]
    public void A_value_that_calls_user_code_keeps_its_temporaries_in_the_forward_scope()
    {
        Assert.Equal(
            new[] { "1: release h" },
            Plan("""
                var h = fc.call(x);
                var y = Helper(fc2.call(x)) * h.sum();
                return y;
                """).Where(d => !d.StartsWith("0:", System.StringComparison.Ordinal)));
    }

    // The inserted statements end in "//" comments: code after them on the same line must not become comment text.
    [Theory]
    [InlineData(" var a = fc.call(x); var b = a * 2; var c = fc2.call(b); return c + x; ", "0: scope", "1: release a", "2: release b")]
    [InlineData("\nvar a = fc.call(x); var b = a * 2;\nvar c = fc2.call(b); return c + x;\n", "0: scope", "1: release a", "2: release b")]
    [InlineData(" var h = fc.call(x); var g = h * 2; if (h.shape[0] > 1) x = x + g; else x = x - g; return fc2.call(x); ", "0: scope", "2: release h, g")]
    [InlineData(" var h = fc.call(x); var g = h * 2; if (h.shape[0] > 1) { return g; } else { x = x + h; } var y = fc2.call(x); return y; ", "0: scope", "2: release h, g", "3: scope")]
    [InlineData(" var h = fc.call(x); var w = h * 2; System.Func<Tensor> twice = () => w * 2; var y = twice() + fc2.call(h); return y; ", "0: scope", "3: release h")]
    [InlineData(" var h = fc.call(x); var y = Twice() + 1; var z = fc2.call(y); return z; Tensor Twice() => h * 2; ", "0: scope", "2: scope", "2: release y")]
    [InlineData("\nvar a = fc.call(x // the input\n); var b = a\n* 2; var c = fc2.call(\nb); return c;\n", "0: scope", "1: release a", "2: release b")]
    public void Statements_sharing_a_line_keep_the_code_after_them(string block, params string[] expected)
    {
        Assert.Equal(expected, Generate(block).Plan);
    }

    [Fact]
    public void A_trailing_user_comment_stays_on_its_statement_and_the_code_after_it_runs()
    {
        var (plan, generated) = Generate("""

            var a = fc.call(x); // first layer
            var b = a * 2; /* doubled */ var c = fc2.call(b); // second layer
            return c + x;

            """);

        Assert.Equal(new[] { "0: scope", "1: release a", "2: release b" }, plan);
        Assert.Contains("a = global::PrecisionDsl.Temporaries.Keep(__temps, fc.call(global::PrecisionDsl.Precision.Cast(x, __weights.Bf16 /* fc: Bf16 (class default [Bf16]) */))); // first layer\n", generated);
        Assert.Contains("var b = a * 2; /* doubled */\n        global::PrecisionDsl.Temporaries.Release(a); // last use of a: freed here, not when forward ends\n", generated);
        Assert.Contains("; // second layer\n        global::PrecisionDsl.Temporaries.Release(b);", generated);
    }

    [Fact]
    public void A_body_with_goto_gets_no_liveness()
    {
        Assert.Empty(Plan("""
            var h = fc.call(x);
            var i = 0;
            again:
            h = h * 2;
            if (++i < 3) goto again;
            return h;
            """));
    }
}
