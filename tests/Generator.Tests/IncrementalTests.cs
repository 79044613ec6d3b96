using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PrecisionDsl.Generator.Tests.Support;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>Caching, value-only pipeline models and deterministic output.</summary>
public sealed class IncrementalTests
{
    private static Compilation ModelCompilation() =>
        GeneratorHarness.Compile(GeneratorHarness.ModelSources.Select(kv => (kv.Key, kv.Value)).ToArray());

    [Fact]
    public void Unrelated_edit_leaves_every_named_step_cached_or_unchanged()
    {
        var compilation = ModelCompilation();
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("public class Unrelated { public int Value => 42; }", GeneratorHarness.ParseOptions, "Unrelated.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        // A per-attribute step is recorded only when one of its targets is a model's first attributed symbol.
        Assert.Contains(TrackingNames.Fp16Targets, result.TrackedSteps.Keys);
        Assert.Contains(TrackingNames.Bf16Targets, result.TrackedSteps.Keys);
        Assert.Contains(TrackingNames.Models, result.TrackedSteps.Keys);
        Assert.Contains(TrackingNames.Plans, result.TrackedSteps.Keys);
        foreach (var name in TrackingNames.All.Where(result.TrackedSteps.ContainsKey))
        {
            var reasons = result.TrackedSteps[name].SelectMany(step => step.Outputs).Select(output => output.Reason);
            Assert.All(reasons, reason => Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {reason}"));
        }
    }

    [Fact]
    public void Editing_one_model_regenerates_only_that_model()
    {
        var compilation = ModelCompilation();
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        var before = driver.GetRunResult().Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

        var mlp = compilation.SyntaxTrees.Single(t => t.FilePath == "Mlp.cs");
        var edited = compilation.ReplaceSyntaxTree(mlp, mlp.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(mlp.ToString().Replace("return fc3.call(h);", "return fc3.call(h * 2);"))));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        var plans = result.TrackedSteps[TrackingNames.Plans].SelectMany(step => step.Outputs).ToArray();
        Assert.Equal(before.Count, plans.Length);
        Assert.True(plans.Count(output => output.Reason == IncrementalStepRunReason.Modified) == 1, string.Join(", ", plans.Select(p => p.Reason)));
        Assert.All(plans.Where(output => output.Reason != IncrementalStepRunReason.Modified), output =>
            Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        var after = result.GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        Assert.Equal(new[] { "PrecisionDsl.TestModels.Mlp.PrecisionDsl.g.cs" }, after.Where(kv => before[kv.Key] != kv.Value).Select(kv => kv.Key));
    }

    [Fact]
    public void An_edit_above_a_model_leaves_its_generated_source_unchanged()
    {
        var compilation = ModelCompilation();
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation);
        var before = driver.GetRunResult().Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

        // Lines inserted above the first declaration of every model file move every model down.
        var edited = compilation;
        foreach (var tree in compilation.SyntaxTrees)
        {
            var text = tree.ToString();
            var first = text.IndexOf("namespace", StringComparison.Ordinal);
            var moved = text.Insert(Math.Max(first, 0), "// A comment and blank lines above the model.\n\n\n");
            edited = edited.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(moved)));
        }

        var after = driver.RunGenerators(edited).GetRunResult().Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        Assert.Equal(before.Keys.OrderBy(k => k, StringComparer.Ordinal), after.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.All(before, kv => Assert.Equal(kv.Value, after[kv.Key]));
    }

    [Fact]
    public void Step_outputs_hold_no_symbols_syntax_or_compilations()
    {
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(ModelCompilation());
        var result = driver.GetRunResult().Results.Single();

        var outputs = TrackingNames.All.Where(result.TrackedSteps.ContainsKey).Select(name => result.TrackedSteps[name]).Concat(result.TrackedOutputSteps.Values)
            .SelectMany(steps => steps)
            .SelectMany(step => step.Outputs)
            .Select(output => output.Value)
            .ToArray();
        Assert.NotEmpty(outputs);
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var output in outputs)
        {
            AssertValueOnly(output, "output", visited);
        }
    }

    [Fact]
    public void Same_input_gives_byte_identical_output()
    {
        var first = GeneratorHarness.RunOnModels().Generated;
        var second = GeneratorHarness.Run(GeneratorHarness.Compile(GeneratorHarness.ModelSources.Reverse().Select(kv => (kv.Key, kv.Value)).ToArray())).Generated;

        Assert.Equal(first.Keys.OrderBy(k => k, StringComparer.Ordinal), second.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, source) in first)
        {
            Assert.Equal(source, second[name]);
        }
    }

    private static void AssertValueOnly(object? value, string path, HashSet<object> visited)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum)
        {
            return;
        }

        Assert.False(
            value is ISymbol or SyntaxNode or Compilation or SemanticModel or Location or SyntaxTree,
            $"{path} holds a {value.GetType().Name}, which pins the compilation in the incremental cache");
        if (!value.GetType().IsValueType && !visited.Add(value))
        {
            return;
        }

        if (value is IEnumerable items)
        {
            var index = 0;
            foreach (var item in items)
            {
                AssertValueOnly(item, $"{path}[{index++}]", visited);
            }

            return;
        }

        foreach (var field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            AssertValueOnly(field.GetValue(value), path + "." + field.Name, visited);
        }
    }
}
