using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace PrecisionDsl;

/// <summary>What a plan entry describes.</summary>
public enum PlanSubjectKind
{
    /// <summary>A layer member of the model.</summary>
    Layer,

    /// <summary>A tensor operation inside the <c>[Forward]</c> method.</summary>
    Op,
}

/// <summary>One row of a <see cref="PrecisionPlan"/>: a layer or op, the precision it runs in and why.</summary>
/// <param name="Subject">The layer member name or the op as written (with its line, when the generator adds it).</param>
/// <param name="Kind">Layer or op.</param>
/// <param name="Precision">The resolved precision, e.g. <c>Fp16</c>, <c>Fp32</c>, <c>widest</c>.</param>
/// <param name="Reason">Why: the attribute, the class default or the op policy.</param>
public readonly record struct PlanEntry(string Subject, PlanSubjectKind Kind, string Precision, string Reason);

/// <summary>The compile-time precision decisions of one model, emitted by the generator as a static property.</summary>
public sealed class PrecisionPlan
{
    private static readonly string[] Headers = { "Subject", "Kind", "Precision", "Reason" };

    /// <summary>Creates a plan.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="modelName"/> or <paramref name="entries"/> is null.</exception>
    /// <exception cref="ArgumentException">The model name is empty, or an entry lacks a subject, precision or reason.</exception>
    public PrecisionPlan(string modelName, PlanEntry[] entries)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelName);
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries)
        {
            if (entry.Subject is null || entry.Precision is null || entry.Reason is null)
            {
                throw new ArgumentException("Every plan entry needs a subject, a precision and a reason.", nameof(entries));
            }
        }

        ModelName = modelName;
        Entries = entries.ToArray();
    }

    /// <summary>The model's class name.</summary>
    public string ModelName { get; }

    /// <summary>Layers first, then ops, in source order.</summary>
    public IReadOnlyList<PlanEntry> Entries { get; }

    /// <summary>The plan as an aligned text table headed by the model name, one entry per line.</summary>
    public string ToTable()
    {
        var rows = Entries
            .Select(e => new[] { e.Subject, e.Kind.ToString(), e.Precision, e.Reason })
            .Prepend(Headers)
            .ToList();
        var widths = Enumerable.Range(0, Headers.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();

        var table = new StringBuilder();
        table.Append("Precision plan: ").Append(ModelName).Append('\n');
        for (var i = 0; i < rows.Count; i++)
        {
            AppendRow(table, rows[i], widths);
            if (i == 0)
            {
                AppendRow(table, widths.Select(w => new string('-', w)).ToArray(), widths);
            }
        }

        return table.ToString();
    }

    /// <inheritdoc cref="ToTable"/>
    public override string ToString() => ToTable();

    private static void AppendRow(StringBuilder table, string[] cells, int[] widths)
    {
        var line = string.Join("  ", cells.Select((cell, c) => cell.PadRight(widths[c])));
        table.Append(line.TrimEnd()).Append('\n');
    }
}
