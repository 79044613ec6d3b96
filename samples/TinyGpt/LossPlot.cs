using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace TinyGpt;

/// <summary>
/// Hand-written SVG: the training loss of every run over the steps (top panel, log scale, smoothed
/// with a short moving average, raw values faint behind), and the loss scale over the steps (bottom
/// panel, log2 scale).
/// </summary>
public static class LossPlot
{
    private const double Width = 860, Left = 70, Right = 20, LossTop = 40, LossHeight = 300, ScaleTop = 400, ScaleHeight = 140;
    private static readonly string[] Colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

    public static string Svg(IReadOnlyList<RunResult> runs)
    {
        int steps = runs.Max(run => run.Losses.Count);
        var positive = runs.SelectMany(run => run.Losses).Where(loss => loss > 0 && double.IsFinite(loss)).ToArray();
        double lossMin = Math.Log10(positive.Min()), lossMax = Math.Log10(positive.Max());
        if (lossMax - lossMin < 1e-6) lossMax = lossMin + 1;
        var scales = runs.SelectMany(run => run.Scales).Where(scale => scale > 0).ToArray();
        double scaleMin = Math.Floor(Math.Log2(scales.Min())), scaleMax = Math.Ceiling(Math.Log2(scales.Max()));
        if (scaleMax - scaleMin < 1) scaleMax = scaleMin + 1;

        double X(int step) => Left + (Width - Left - Right) * step / Math.Max(1, steps - 1);
        double LossY(double loss) => LossTop + LossHeight * (lossMax - Math.Log10(Math.Max(loss, positive.Min()))) / (lossMax - lossMin);
        double ScaleY(double scale) => ScaleTop + ScaleHeight * (scaleMax - Math.Log2(scale)) / (scaleMax - scaleMin);

        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"600\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(Invariant($"<text x=\"{Left}\" y=\"22\" font-size=\"15\">Training loss (log scale)</text>\n"));
        svg.Append(Invariant($"<text x=\"{Left}\" y=\"{ScaleTop - 14}\" font-size=\"15\">Loss scale (log2)</text>\n"));
        Frame(svg, LossTop, LossHeight);
        Frame(svg, ScaleTop, ScaleHeight);
        foreach (double tick in OneTwoFiveTicks(lossMin, lossMax))
            TickY(svg, LossY(tick), tick.ToString("G3", CultureInfo.InvariantCulture));
        for (double power = scaleMin; power <= scaleMax; power += Math.Max(1, Math.Ceiling((scaleMax - scaleMin) / 4)))
            TickY(svg, ScaleY(Math.Pow(2, power)), Math.Pow(2, power).ToString("G6", CultureInfo.InvariantCulture));
        for (int tick = 0; tick <= 4; tick++)
        {
            int step = (steps - 1) * tick / 4;
            svg.Append(Invariant($"<text x=\"{X(step):F1}\" y=\"{ScaleTop + ScaleHeight + 18}\" text-anchor=\"middle\">{step + 1}</text>\n"));
        }
        svg.Append(Invariant($"<text x=\"{(Width + Left) / 2}\" y=\"{ScaleTop + ScaleHeight + 38}\" text-anchor=\"middle\">step</text>\n"));

        for (int r = 0; r < runs.Count; r++)
        {
            string color = Colors[r % Colors.Length];
            var losses = runs[r].Losses;
            svg.Append(Polyline(Enumerable.Range(0, losses.Count).Where(i => double.IsFinite(losses[i])).Select(i => (X(i), LossY(losses[i]))), color, 0.25));
            svg.Append(Polyline(MovingAverage(losses, 15).Select((loss, i) => (X(i), LossY(loss))), color, 1.0));
            svg.Append(Polyline(runs[r].Scales.Select((scale, i) => (X(i), ScaleY(scale))), color, 1.0));
            svg.Append(Invariant($"<rect x=\"{Width - Right - 190}\" y=\"{LossTop + 12 + 18 * r}\" width=\"14\" height=\"4\" fill=\"{color}\"/>"));
            svg.Append(Invariant($"<text x=\"{Width - Right - 170}\" y=\"{LossTop + 18 + 18 * r}\">{Escape(runs[r].Label)}</text>\n"));
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void Frame(StringBuilder svg, double top, double height) =>
        svg.Append(Invariant($"<rect x=\"{Left}\" y=\"{top}\" width=\"{Width - Left - Right}\" height=\"{height}\" fill=\"none\" stroke=\"#888\"/>\n"));

    private static void TickY(StringBuilder svg, double y, string label) =>
        svg.Append(Invariant($"<line x1=\"{Left - 4}\" x2=\"{Width - Right}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"#ddd\"/><text x=\"{Left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{label}</text>\n"));

    private static string Polyline(IEnumerable<(double X, double Y)> points, string color, double opacity) =>
        Invariant($"<polyline fill=\"none\" stroke=\"{color}\" stroke-opacity=\"{opacity}\" stroke-width=\"1.5\" points=\"") +
        string.Join(" ", points.Select(p => Invariant($"{p.X:F1},{p.Y:F1}"))) + "\"/>\n";

    /// <summary>1, 2, 5 times powers of ten between 10^<paramref name="log10Min"/> and 10^<paramref name="log10Max"/>.</summary>
    private static IEnumerable<double> OneTwoFiveTicks(double log10Min, double log10Max)
    {
        for (int exponent = (int)Math.Floor(log10Min); exponent <= (int)Math.Ceiling(log10Max); exponent++)
            foreach (double mantissa in new[] { 1.0, 2.0, 5.0 })
            {
                double tick = mantissa * Math.Pow(10, exponent);
                if (Math.Log10(tick) >= log10Min && Math.Log10(tick) <= log10Max) yield return tick;
            }
    }

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

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
