using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Emitting;

/// <summary>
/// Rewrites the <c>[Forward]</c> body text by insertion: casts around the inputs the planner chose and
/// <c>__Finish(...)</c> around the method's own return values. The only text replaced is the spans the parser
/// recorded for each routed call (<see cref="RoutedCall"/>: matmul, mm, bmm, einsum, functional linear and
/// convolutions), which go to their counterpart in <c>CheckedOps</c> (shape-checked, on the fast kernel for the
/// dtype), and a softmax the planner stores in half, which goes to <c>CheckedOps.Softmax</c> with that dtype. The user's statements, names and layout are kept, so every statement shape keeps its meaning.
/// </summary>
internal static class ForwardRewriter
{
    public const string FinishName = "__Finish";

    public const string HelperPrefix = "__Pdsl";

    public const string PromoteName = "__PdslPromote";

    /// <summary>Text inserted at <see cref="Position"/>, replacing the <see cref="Removed"/> characters there.</summary>
    /// <param name="Breaks">A cast around an expression that holds another cast: its operand and its dtype go on
    /// lines of their own, one level deeper, so nested casts read top-down instead of as one long line.</param>
    private readonly record struct Insertion(int Position, bool IsEnd, int Length, int Priority, string Text, bool Breaks = false, int Removed = 0);

    private const string IndentUnit = "    ";

    /// <summary>The statements of the rewritten body, without braces, left-aligned.</summary>
    /// <param name="wrapReturns">Pass the method's return values through <c>__Finish</c> (the forward itself, not helpers).</param>
    /// <param name="returnsValue">False for a void helper: an expression body becomes a statement, not a return.</param>
    /// <param name="liveness">Where tensors are freed before the dispose scope ends (the forward itself; empty for helpers).</param>
    public static string RewriteStatements(ForwardBody body, EquatableArray<NodePlan> plans, bool wrapReturns, bool returnsValue = true, EquatableArray<StatementLiveness> liveness = default)
    {
        var insertions = Insertions(body, plans, wrapReturns && !body.IsExpressionBody);
        AddLiveness(body, liveness, insertions);
        var text = Apply(body.Text, insertions);
        if (body.IsExpressionBody)
        {
            var expression = Dedent(text, skipFirstLine: true);
            return !returnsValue ? expression + ";"
                : wrapReturns ? "return " + FinishName + "(" + expression + ");"
                : "return " + expression + ";";
        }

        var open = text.IndexOf('{');
        var close = text.LastIndexOf('}');
        var inner = open >= 0 && close > open ? text.Substring(open + 1, close - open - 1) : text;
        return Dedent(inner, skipFirstLine: false).Trim('\n');
    }

    /// <summary>The C# expression for a static dtype inside the generated forward.</summary>
    public static string DtypeExpression(StaticDtype dtype) => dtype switch
    {
        StaticDtype.Fp16 => "__weights.Fp16",
        StaticDtype.Bf16 => "__weights.Bf16",
        _ => TypeNames.GlobalFloat32,
    };

    private static List<Insertion> Insertions(ForwardBody body, EquatableArray<NodePlan> plans, bool wrapReturns)
    {
        var insertions = new List<Insertion>();
        var nodes = body.Nodes;
        var castSpans = Enumerable.Range(0, nodes.Count).SelectMany(i => plans[i].CastInputs).Select(input => nodes[input].Span).ToArray();
        for (var i = 0; i < nodes.Count; i++)
        {
            var plan = plans[i];
            var comment = plan.Why.Length > 0 ? " /* " + plan.Why.Replace("*/", "* /") + " */" : "";
            var dtype = plan.Promote == RuntimePromote.WidestOfInputs
                ? TypeNames.GlobalPrecisionWidest + "(" + string.Join(", ", nodes[i].Inputs.Select(input => body.Text.Substring(nodes[input].Span.Start, nodes[input].Span.Length))) + ")"
                : DtypeExpression(plan.RunsIn);
            foreach (var input in plan.CastInputs)
            {
                var span = nodes[input].Span;
                var breaks = castSpans.Any(inner => inner != span && span.Contains(inner));
                insertions.Add(new Insertion(span.Start, false, span.Length, 0, TypeNames.GlobalPrecisionCast + "(", breaks));
                insertions.Add(new Insertion(span.End, true, span.Length, 0, (breaks ? "" : ", ") + dtype + comment + ")", breaks));
                comment = "";
            }

            if (plan.Promote == RuntimePromote.WrapCollections)
            {
                foreach (var collection in nodes[i].CollectionArguments)
                {
                    insertions.Add(new Insertion(collection.Start, false, collection.Length, 0, PromoteName + "("));
                    insertions.Add(new Insertion(collection.End, true, collection.Length, 0, comment + ")"));
                    comment = "";
                }
            }
        }

        foreach (var call in body.RoutedCalls)
        {
            var stored = call.HalfStored ? Enumerable.Range(0, nodes.Count).Where(i => nodes[i].Span == call.Span && plans[i].StoredInHalf).DefaultIfEmpty(-1).First() : -1;
            if (call.HalfStored && stored < 0)
            {
                continue; // a reader takes it in fp32: TorchSharp's op, its input cast to fp32 as planned
            }

            AddRoutedCall(call, insertions);
            if (stored >= 0)
            {
                var why = " /* " + plans[stored].Why.Replace("*/", "* /") + " */";
                insertions.Add(new Insertion(call.CloseParen, true, call.Span.Length, -1, ", " + TypeNames.HalfStorageParameter + ": " + DtypeExpression(plans[stored].Result) + why));
            }
        }

        // "fc.forward(x)" skips the layer's hooks; the generated code calls it the way that runs them.
        foreach (var name in body.LayerForwardNames)
        {
            insertions.Add(new Insertion(name.Start, false, 0, 0, TypeNames.ModuleCall, Removed: name.Length));
        }

        // A call to a rewritten helper goes to its copy: "Block(h)" becomes "__PdslBlock(h)".
        foreach (var call in body.HelperCalls)
        {
            insertions.Add(new Insertion(call.Start, false, 0, 0, HelperPrefix));
        }

        if (wrapReturns)
        {
            foreach (var span in body.Returns)
            {
                insertions.Add(new Insertion(span.Start, false, span.Length, 1, FinishName + "("));
                insertions.Add(new Insertion(span.End, true, span.Length, 1, ")"));
            }
        }

        return insertions;
    }

    /// <summary>
    /// The liveness pass's statements, inserted around the outermost statements it names (all visible, each with a
    /// comment): a closed value runs in a dispose scope of its own and only the value is kept
    /// (<c>Temporaries.Keep</c>; a <c>var</c> declaration is split so the local outlives the <c>using</c>), a
    /// reassignment frees the previous value (<c>replaced:</c>, <c>Temporaries.Replace</c>), and locals are freed
    /// after their last use (<c>Temporaries.Release</c>). These wrap everything else at the same place. A statement
    /// they touch gets lines of its own, so that their <c>//</c> comments never swallow code the user wrote after it
    /// on the same line.
    /// </summary>
    private static void AddLiveness(ForwardBody body, EquatableArray<StatementLiveness> liveness, List<Insertion> insertions)
    {
        const int Outermost = 3;
        var text = body.Text;
        var lineBreaks = new SortedSet<int>();
        foreach (var entry in liveness)
        {
            var statement = body.Liveness.Statements[entry.Statement];
            var indent = LineIndent(text, statement.Span.Start);
            var outer = statement.Span.Length + 1;
            var afterComments = SkipTrailingComments(text, statement.Span.End);
            var next = SkipSpaces(text, afterComments);
            if (!IsLineStart(text, statement.Span.Start))
            {
                lineBreaks.Add(statement.Span.Start);
            }

            if (!IsLineEnd(text, next))
            {
                lineBreaks.Add(next);
            }

            if (statement.Assigned >= 0 && (entry.ScopesTemporaries || entry.Replaces.Length > 0))
            {
                var name = body.Liveness.Locals[statement.Assigned].Name;
                var replaced = entry.Replaces.Length > 0 ? ", replaced: " + name : "";
                var open = entry.ScopesTemporaries
                    ? (statement.IsDeclaration ? statement.DeclaredType + " " + name + ";\n" + indent : "")
                        + "using (var " + TemporariesScope + " = " + TypeNames.GlobalNewDisposeScope + "()) // frees this statement's temporaries (casts included) when it ends\n"
                        + indent + IndentUnit + name + " = " + TypeNames.GlobalTemporaries + ".Keep(" + TemporariesScope + ", "
                    : name + " = " + TypeNames.GlobalTemporaries + ".Replace(";
                insertions.Add(new Insertion(statement.Target.Start, false, outer, Outermost, open, Removed: statement.Target.Length));
                insertions.Add(new Insertion(statement.Value.End, true, outer, Outermost, replaced + ")"));
            }

            if (entry.ReleasedAfter.Count > 0)
            {
                // After the user's trailing comments, which stay on the statement they describe.
                var names = string.Join(", ", entry.ReleasedAfter);
                insertions.Add(new Insertion(afterComments, true, outer + 1, Outermost,
                    "\n" + indent + TypeNames.GlobalTemporaries + ".Release(" + names + "); // last use of " + names + ": freed here, not when forward ends"));
            }
        }

        // Opens before everything else at its position; the spaces it follows are trimmed with the line's end.
        foreach (var position in lineBreaks)
        {
            insertions.Add(new Insertion(position, false, int.MaxValue, Outermost, "\n" + LineIndent(text, position)));
        }
    }

    private const string TemporariesScope = "__temps";

    /// <summary>The whitespace that starts the line holding <paramref name="position"/>.</summary>
    private static string LineIndent(string text, int position)
    {
        var start = position;
        while (start > 0 && text[start - 1] != '\n')
        {
            start--;
        }

        return text.Substring(start, SkipSpaces(text, start) - start);
    }

    private static int SkipSpaces(string text, int position)
    {
        while (position < text.Length && text[position] is ' ' or '\t')
        {
            position++;
        }

        return position;
    }

    private static bool IsLineStart(string text, int position)
    {
        while (position > 0 && text[position - 1] is ' ' or '\t')
        {
            position--;
        }

        return position == 0 || text[position - 1] == '\n';
    }

    private static bool IsLineEnd(string text, int position) => position >= text.Length || text[position] is '\r' or '\n';

    /// <summary>Past the comments that follow a statement on its line (a <c>//</c> one runs to the line's end).</summary>
    private static int SkipTrailingComments(string text, int position)
    {
        while (true)
        {
            var start = SkipSpaces(text, position);
            if (string.CompareOrdinal(text, start, "//", 0, 2) == 0)
            {
                var end = text.IndexOf('\n', start);
                return end < 0 ? text.Length : end > 0 && text[end - 1] == '\r' ? end - 1 : end;
            }

            if (string.CompareOrdinal(text, start, "/*", 0, 2) != 0)
            {
                return position;
            }

            var close = text.IndexOf("*/", start + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                return position;
            }

            position = close + 2;
        }
    }

    /// <summary>
    /// Sends a call to its <c>CheckedOps</c> counterpart by replacing the spans the parser recorded:
    /// <c>torch.matmul(a, b)</c> and <c>a.matmul(b)</c> become <c>CheckedOps.Matmul(a, b, "a", "b")</c> (the operands as
    /// written name them in the shape error), <c>functional.linear(...)</c> becomes <c>CheckedOps.Linear(...)</c>. The
    /// operands, with their casts, stay where they are.
    /// </summary>
    private static void AddRoutedCall(RoutedCall call, List<Insertion> insertions)
    {
        var outer = call.Span.Length;
        insertions.Add(new Insertion(call.Callee.Start, false, outer, -1, TypeNames.GlobalCheckedOps + "." + call.Target + "(", Removed: call.Callee.Length));
        if (call.ReceiverToArguments is { } separator)
        {
            insertions.Add(new Insertion(separator.Start, true, outer, -1, ", ", Removed: separator.Length));
        }

        foreach (var renamed in call.RenamedArguments)
        {
            insertions.Add(new Insertion(renamed.NameColon.Start, false, renamed.NameColon.Length, -1, TypeNames.CheckedProductOperands[renamed.Operand] + ":", Removed: renamed.NameColon.Length));
        }

        if (call.OperandNames.Count > 0)
        {
            // After a named argument only named ones may follow.
            var names = call.OperandNames.Select((name, operand) =>
                (call.RenamedArguments.Count > 0 ? TypeNames.CheckedProductOperandNames[operand] + ": " : "") + Literal(name));
            insertions.Add(new Insertion(call.CloseParen, true, outer, -1, ", " + string.Join(", ", names)));
        }
    }

    private static string Literal(string value) => Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(value, quote: true);

    private static string Apply(string text, List<Insertion> insertions)
    {
        // At one position: ends close before starts open; among starts the outer (longer) span opens first,
        // among ends the inner (shorter) span closes first. A return wrap encloses a cast of the same span.
        var ordered = insertions
            .OrderBy(i => i.Position)
            .ThenBy(i => i.IsEnd ? 0 : 1)
            .ThenBy(i => i.IsEnd ? i.Length : -i.Length)
            .ThenBy(i => i.IsEnd ? i.Priority : -i.Priority);
        var builder = new StringBuilder(text.Length + (insertions.Count * 48));
        var openIndents = new Stack<string>();
        var position = 0;
        foreach (var insertion in ordered)
        {
            var at = Math.Min(Math.Max(insertion.Position, position), text.Length);
            builder.Append(text, position, at - position);
            if (insertion.Breaks && !insertion.IsEnd)
            {
                var indent = CurrentLineIndent(builder) + IndentUnit;
                openIndents.Push(indent);
                builder.Append(insertion.Text).Append('\n').Append(indent);
            }
            else if (insertion.Breaks && openIndents.Count > 0)
            {
                builder.Append(",\n").Append(openIndents.Pop()).Append(insertion.Text);
            }
            else
            {
                builder.Append(insertion.Text);
            }

            position = Math.Min(at + insertion.Removed, text.Length);
        }

        builder.Append(text, position, text.Length - position);
        return builder.ToString();
    }

    private static string CurrentLineIndent(StringBuilder builder)
    {
        var lineStart = builder.Length;
        while (lineStart > 0 && builder[lineStart - 1] != '\n')
        {
            lineStart--;
        }

        var end = lineStart;
        while (end < builder.Length && builder[end] is ' ' or '\t')
        {
            end++;
        }

        return builder.ToString(lineStart, end - lineStart);
    }

    /// <summary>Removes the common leading whitespace of the lines (the first one too unless told otherwise).</summary>
    private static string Dedent(string text, bool skipFirstLine)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        var indent = lines
            .Skip(skipFirstLine ? 1 : 0)
            .Where(l => l.Trim().Length > 0)
            .Select(l => l.Length - l.TrimStart(' ', '\t').Length)
            .DefaultIfEmpty(0)
            .Min();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd();
            if (i == 0 && skipFirstLine)
            {
                lines[i] = line.Trim();
            }
            else
            {
                lines[i] = line.Length >= indent ? (skipFirstLine ? "    " : "") + line.Substring(indent) : line.TrimStart();
            }
        }

        return string.Join("\n", lines);
    }
}
