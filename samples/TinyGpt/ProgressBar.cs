using System;
using System.Diagnostics;
using System.Globalization;

namespace TinyGpt;

/// <summary>
/// One-line live progress (step, loss, tokens/s, loss scale) redrawn with '\r'. When the output is
/// redirected it prints a plain line every tenth of the run instead, so logs stay readable.
/// </summary>
public sealed class ProgressBar(string label, int totalSteps)
{
    private const int BarWidth = 24;
    private readonly Stopwatch sinceRedraw = Stopwatch.StartNew();
    private readonly bool interactive = !Console.IsOutputRedirected;
    private int lastReportedTenth = -1;

    public void Update(int step, double loss, double tokensPerSecond, double scale, TimeSpan elapsed)
    {
        bool last = step == totalSteps;
        if (interactive)
        {
            if (!last && sinceRedraw.ElapsedMilliseconds < 100) return;
            sinceRedraw.Restart();
            Console.Write("\r" + Line(step, loss, tokensPerSecond, scale, elapsed) + (last ? Environment.NewLine : ""));
            return;
        }
        int tenth = step * 10 / totalSteps;
        if (tenth == lastReportedTenth) return;
        lastReportedTenth = tenth;
        Console.WriteLine(Line(step, loss, tokensPerSecond, scale, elapsed));
    }

    private string Line(int step, double loss, double tokensPerSecond, double scale, TimeSpan elapsed)
    {
        int filled = (int)((long)BarWidth * step / totalSteps);
        var remaining = step == 0 ? TimeSpan.Zero : elapsed * ((double)(totalSteps - step) / step);
        return string.Create(CultureInfo.InvariantCulture,
            $"  {label,-12} [{new string('#', filled)}{new string('.', BarWidth - filled)}] {step,5}/{totalSteps}" +
            $"  loss {loss,7:F4}  {tokensPerSecond,8:N0} tok/s  scale {scale,-8:G6} eta {remaining:m\\:ss}  ");
    }
}
