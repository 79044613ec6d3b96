using System;
using System.Collections.Generic;
using System.Linq;

namespace TinyGpt;

/// <summary>
/// Validation loss and held-out accuracy of both precisions over several seeds. "Mixed is as accurate as
/// fp32" is judged against fp32's own seed-to-seed spread: mixed's mean must lie within two standard
/// deviations of fp32's mean, for loss and for accuracy.
/// </summary>
public sealed class SeedSummary(IReadOnlyList<RunResult> mixed, IReadOnlyList<RunResult> fp32)
{
    public int Seeds => fp32.Count;

    public static (double Mean, double StandardDeviation) Spread(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        double variance = values.Count > 1 ? values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) : 0;
        return (mean, Math.Sqrt(variance));
    }

    /// <summary>Within fp32's mean ± 2 standard deviations; never with fewer than two seeds (no spread to judge by).</summary>
    public bool? WithinFp32Spread(Func<RunResult, double> metric)
    {
        if (Seeds < 2) return null;
        var (reference, deviation) = Spread(fp32.Select(metric).ToArray());
        return Math.Abs(Spread(mixed.Select(metric).ToArray()).Mean - reference) <= 2 * deviation;
    }

    public List<string[]> Rows()
    {
        string Cell(IReadOnlyList<RunResult> runs, Func<RunResult, double> metric, double factor, string format)
        {
            var values = runs.Select(run => factor * metric(run)).ToArray();
            var (mean, deviation) = Spread(values);
            return $"{ComparisonReport.F(mean, format)} ± {ComparisonReport.F(deviation, format)} " +
                   $"({ComparisonReport.F(values.Min(), format)}–{ComparisonReport.F(values.Max(), format)})";
        }
        string Verdict(bool? within) => within switch { true => "yes", false => "NO", null => "n/a (1 seed)" };
        return
        [
            ["metric (mean ± sd, min–max)", mixed[0].Label, fp32[0].Label, "mixed within fp32 ± 2 sd"],
            ["validation loss", Cell(mixed, r => r.ValidationLoss, 1, "F4"), Cell(fp32, r => r.ValidationLoss, 1, "F4"), Verdict(WithinFp32Spread(r => r.ValidationLoss))],
            ["held-out exact match %", Cell(mixed, r => r.Accuracy, 100, "F1"), Cell(fp32, r => r.Accuracy, 100, "F1"), Verdict(WithinFp32Spread(r => r.Accuracy))],
        ];
    }

    public string Verdict()
    {
        bool? loss = WithinFp32Spread(r => r.ValidationLoss), accuracy = WithinFp32Spread(r => r.Accuracy);
        return (loss, accuracy) switch
        {
            (null, _) or (_, null) => "One seed: fp32 has no seed-to-seed spread to judge the difference by; run with --seeds 3 or more.",
            (true, true) => $"Mixed is as accurate as fp32: over {Seeds} seeds its mean validation loss and accuracy lie within fp32's own seed-to-seed spread (mean ± 2 sd).",
            _ => $"Mixed differs from fp32 by more than fp32's own seed-to-seed spread (mean ± 2 sd) over {Seeds} seeds: " +
                 $"validation loss {(loss == true ? "within" : "outside")}, accuracy {(accuracy == true ? "within" : "outside")}.",
        };
    }
}
