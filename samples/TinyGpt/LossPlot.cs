using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using ScottPlot;

namespace TinyGpt;

/// <summary>
/// The training loss of every run over the steps (log scale, smoothed with a short moving average, raw values
/// faint behind) and, on the right axis, the loss scale of runs that scale (log2), as PNG and SVG.
/// </summary>
public static class LossPlot
{
    private const int Width = 900, Height = 540, Smoothing = 15;

    public static void Save(IReadOnlyList<RunResult> runs, string pngPath, string svgPath)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int r = 0; r < runs.Count; r++)
        {
            var color = palette.GetColor(r);
            double[] steps = Enumerable.Range(1, runs[r].Losses.Count).Select(step => (double)step).ToArray();
            // Log10 by hand: the axis labels below turn it back into losses.
            var raw = plot.Add.ScatterLine(steps, MovingAverage(runs[r].Losses, 1).Select(Log10).ToArray(), color.WithAlpha(0.25));
            raw.LineWidth = 1;
            var smooth = plot.Add.ScatterLine(steps, MovingAverage(runs[r].Losses, Smoothing).Select(Log10).ToArray(), color);
            smooth.LineWidth = 2;
            smooth.LegendText = runs[r].Label;
            if (runs[r].Scales.Any(scale => scale != 1))
            {
                var scale = plot.Add.ScatterLine(steps, runs[r].Scales.Select(Math.Log2).ToArray(), color);
                scale.LinePattern = LinePattern.Dashed;
                scale.LegendText = runs[r].Label + " loss scale (right, log2)";
                scale.Axes.YAxis = plot.Axes.Right;
                plot.Axes.Right.Label.Text = "loss scale (log2)";
            }
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = log10 => Math.Pow(10, log10).ToString("G3", CultureInfo.InvariantCulture),
        };
        plot.Title("TinyGpt: training loss, mixed precision vs fp32");
        plot.XLabel("step");
        plot.YLabel("training loss (log scale)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(pngPath, Width, Height);
        plot.SaveSvg(svgPath, Width, Height);
    }

    private static double Log10(double loss) => Math.Log10(Math.Max(loss, 1e-6));

    /// <summary>Trailing mean over <paramref name="window"/> values; a non-finite loss (a skipped fp16 step) repeats the last value.</summary>
    private static IEnumerable<double> MovingAverage(IReadOnlyList<double> values, int window)
    {
        double sum = 0;
        var queue = new Queue<double>();
        foreach (double value in values)
        {
            double finite = double.IsFinite(value) ? value : (queue.Count > 0 ? queue.Last() : 0);
            queue.Enqueue(finite);
            sum += finite;
            if (queue.Count > window) sum -= queue.Dequeue();
            yield return sum / queue.Count;
        }
    }
}
