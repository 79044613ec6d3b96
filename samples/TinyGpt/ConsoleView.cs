using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Spectre.Console;

namespace TinyGpt;

/// <summary>
/// Console output through Spectre.Console: a live progress bar per run on a terminal, and a plain line every
/// tenth of the run when the output is redirected or <c>CI</c> is set, so logs stay readable.
/// </summary>
public static class ConsoleView
{
    public static bool Live { get; } =
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")) && AnsiConsole.Profile.Capabilities.Interactive;

    static ConsoleView()
    {
        // A redirected console reports 80 columns; the tables are wider and should not wrap in logs.
        if (!Live) AnsiConsole.Profile.Width = 200;
    }

    /// <summary>Runs <paramref name="train"/>, showing the progress it reports.</summary>
    public static RunResult Train(string label, int steps, Func<Action<StepProgress>, RunResult> train)
    {
        if (!Live)
        {
            int lastTenth = -1;
            return train(progress =>
            {
                int tenth = progress.Step * 10 / progress.Steps;
                if (tenth == lastTenth) return;
                lastTenth = tenth;
                Console.WriteLine("  " + Line(label, progress));
            });
        }
        return AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(label), maxValue: steps);
                return train(progress =>
                {
                    task.Value = progress.Step;
                    // The bar shows the step and the remaining time; 80 columns leave room for little else.
                    task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                        $"{label,-12} loss {progress.Loss,7:F4}  {progress.TokensPerSecond,7:N0} tok/s  scale {progress.Scale:G6}"));
                });
            });
    }

    /// <summary>A table whose first row is the header; value columns are right-aligned.</summary>
    public static void Table(List<string[]> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        for (int column = 0; column < rows[0].Length; column++)
            table.AddColumn(new TableColumn(Markup.Escape(rows[0][column])) { Alignment = column == 0 ? Justify.Left : Justify.Right });
        foreach (var row in rows.Skip(1)) table.AddRow(row.Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
    }

    private static string Line(string label, StepProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"{label,-12} {p.Step,5}/{p.Steps}  loss {p.Loss,7:F4}  {p.TokensPerSecond,9:N0} tok/s  scale {p.Scale,-8:G6} {p.Elapsed:m\\:ss}");
}
