using System.Linq;
using Xunit;

namespace PrecisionDsl.Runtime.Tests.Policy;

public sealed class PrecisionPlanTests
{
    [Fact]
    public void Table_lists_every_entry_in_aligned_columns()
    {
        var plan = new PrecisionPlan("Classifier", new[]
        {
            new PlanEntry("fc1", PlanSubjectKind.Layer, "Fp16", "class default [Fp16]"),
            new PlanEntry("norm", PlanSubjectKind.Layer, "Fp32", "[KeepFp32]"),
            new PlanEntry("functional.log_softmax (line 21)", PlanSubjectKind.Op, "Fp32", "op policy: fp32 list"),
        });

        var lines = plan.ToTable().TrimEnd('\n').Split('\n');

        Assert.Equal("Precision plan: Classifier", lines[0]);
        Assert.Equal(2 + 1 + plan.Entries.Count, lines.Length);
        Assert.StartsWith("Subject", lines[1]);
        Assert.Matches("^-+  -+  -+  -+$", lines[2]);
        var kindColumn = lines[1].IndexOf("Kind");
        var reasonColumn = lines[1].IndexOf("Reason");
        Assert.All(lines.Skip(3), line => Assert.True(line[kindColumn - 1] == ' ' && line[kindColumn] != ' ', line));
        Assert.Contains(lines, l => l.StartsWith("norm") && l.Substring(reasonColumn) == "[KeepFp32]");
        Assert.Contains(lines, l => l.StartsWith("functional.log_softmax (line 21)") && l.Contains(" Op ") && l.EndsWith("op policy: fp32 list"));
    }
}
