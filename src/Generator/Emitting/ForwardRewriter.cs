using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Emitting
{
    /// <summary>
    /// Rewrites the <c>[Forward]</c> body text by insertion: casts around the inputs the planner chose and
    /// <c>__Finish(...)</c> around the method's own return values. The only text replaced is the callee of each
    /// matrix product (<c>matmul</c>, <c>mm</c>, <c>bmm</c>, <c>einsum</c>, functional <c>linear</c>), which goes
    /// to its counterpart in <c>CheckedOps</c> (shape-checked, on the fast kernel for the dtype). The user's
    /// statements, names and layout are kept, so every statement shape keeps its meaning.
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
        public static string RewriteStatements(ForwardBody body, EquatableArray<NodePlan> plans, bool wrapReturns, bool returnsValue = true)
        {
            var text = Apply(body.Text, Insertions(body, plans, wrapReturns && !body.IsExpressionBody));
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

            for (var i = 0; i < nodes.Count; i++)
            {
                if (nodes[i] is { Kind: ExprKind.Op, Inputs.Count: 2 } product && CheckedProducts.TryGetValue(product.Name, out var checkedName))
                {
                    AddCheckedProduct(body.Text, product, checkedName, nodes[product.Inputs[0]].Span, nodes[product.Inputs[1]].Span, insertions);
                }
                else if (nodes[i] is { Kind: ExprKind.Op } function && RoutedFunctions.TryGetValue(function.Name, out var routedName))
                {
                    AddRoutedFunction(body.Text, function, routedName, insertions);
                }
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

        /// <summary>The products routed through <c>CheckedOps</c>, by TorchSharp name.</summary>
        private static readonly Dictionary<string, string> CheckedProducts = new(StringComparer.Ordinal)
        {
            ["matmul"] = TypeNames.GlobalCheckedOps + ".Matmul",
            ["mm"] = TypeNames.GlobalCheckedOps + ".Mm",
            ["bmm"] = TypeNames.GlobalCheckedOps + ".Bmm",
        };

        /// <summary>Static products routed through <c>CheckedOps</c> by their callee alone: same parameters, same names.</summary>
        private static readonly Dictionary<string, string> RoutedFunctions = new(StringComparer.Ordinal)
        {
            ["einsum"] = TypeNames.GlobalCheckedOps + ".Einsum",
            ["linear"] = TypeNames.GlobalCheckedOps + ".Linear",
            ["conv1d"] = TypeNames.GlobalCheckedOps + ".Conv1d",
            ["conv2d"] = TypeNames.GlobalCheckedOps + ".Conv2d",
            ["conv3d"] = TypeNames.GlobalCheckedOps + ".Conv3d",
            ["conv_transpose1d"] = TypeNames.GlobalCheckedOps + ".ConvTranspose1d",
            ["conv_transpose2d"] = TypeNames.GlobalCheckedOps + ".ConvTranspose2d",
            ["conv_transpose3d"] = TypeNames.GlobalCheckedOps + ".ConvTranspose3d",
        };

        /// <summary>
        /// <c>torch.einsum(...)</c>, <c>functional.linear(...)</c> and <c>functional.conv*</c>/<c>conv_transpose*(...)</c>
        /// become <c>CheckedOps.Einsum(...)</c>, <c>CheckedOps.Linear(...)</c>, <c>CheckedOps.Conv2d(...)</c>, ..., which
        /// take the same parameters under the same names and run on the device's correct, fast kernel for the
        /// dtype: only the callee text up to its '(' changes.
        /// </summary>
        private static void AddRoutedFunction(string text, ExprNode call, string routedName, List<Insertion> insertions)
        {
            var span = call.Span;
            var open = text.IndexOf('(', span.Start, span.Length) - span.Start;
            if (open < 0 || Squeezed(text.Substring(span.Start, open)) is not { } callee
                || !(callee == call.Name || callee.EndsWith("." + call.Name, StringComparison.Ordinal))
                || !callee.All(c => char.IsLetterOrDigit(c) || c is '.' or '_' or '@' or ':'))
            {
                return;
            }

            insertions.Add(new Insertion(span.Start, false, span.Length, -1, routedName + "(", Removed: open + 1));
        }

        /// <summary>
        /// <c>torch.matmul(a, b)</c> and <c>a.matmul(b)</c> (likewise <c>mm</c>, <c>bmm</c>) become
        /// <c>CheckedOps.Matmul(a, b, "a", "b")</c>: the same product after a shape check whose exception names the
        /// operands as written (TorchSharp 0.107's native matmul terminates the process on a mismatch), on the
        /// device's fast kernel for the dtype. Only the call's own text changes (the operands, with their casts,
        /// stay); a call written any other way (named arguments, comments inside) is left as it is.
        /// </summary>
        private static void AddCheckedProduct(string text, ExprNode call, string checkedName, TextSpan left, TextSpan right, List<Insertion> insertions)
        {
            var op = call.Name;
            var span = call.Span;
            if (!(span.Start <= left.Start && left.End <= right.Start && right.End < span.End && text[span.End - 1] == ')'))
            {
                return;
            }

            var before = text.Substring(span.Start, left.Start - span.Start);
            var between = text.Substring(left.End, right.Start - left.End);
            var after = text.Substring(right.End, span.End - right.End);
            var names = ", \"" + OperandName(text, left) + "\", \"" + OperandName(text, right) + "\"";
            var outer = span.Length;
            var open = before.IndexOf('(');
            if (open >= 0 && Squeezed(before.Substring(0, open + 1)) is var callee && callee.EndsWith(op + "(", StringComparison.Ordinal)
                && (callee.Length == op.Length + 1 || callee[callee.Length - op.Length - 2] == '.')
                && IsOnly(before.Substring(open + 1), '(') && Squeezed(between).Trim(')', '(') == "," && IsOnly(after, ')'))
            {
                // torch.matmul(a, b): the callee up to its '(' is replaced.
                insertions.Add(new Insertion(span.Start, false, outer, -1, checkedName + "(", Removed: open + 1));
            }
            else if (IsOnly(before, '(') && Squeezed(between).TrimStart(')') is var member
                && member.StartsWith("." + op + "(", StringComparison.Ordinal) && member.TrimEnd('(') == "." + op && IsOnly(after, ')'))
            {
                // a.matmul(b): "Matmul(" goes in front, ".matmul(" becomes ", ".
                var dot = between.IndexOf('.');
                var argumentsOpen = between.IndexOf('(', dot);
                insertions.Add(new Insertion(span.Start, false, outer, -1, checkedName + "("));
                insertions.Add(new Insertion(left.End + dot, true, outer, -1, ", ", Removed: argumentsOpen + 1 - dot));
            }
            else
            {
                return;
            }

            insertions.Add(new Insertion(span.End - 1, true, outer, -1, names));
        }

        /// <summary>The operand as the user wrote it, on one line, escaped for a C# string literal.</summary>
        private static string OperandName(string text, TextSpan operand) =>
            string.Join(" ", text.Substring(operand.Start, operand.Length).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                .Replace("\\", "\\\\").Replace("\"", "\\\"");

        private static string Squeezed(string text) => new string(text.Where(c => !char.IsWhiteSpace(c)).ToArray());

        private static bool IsOnly(string text, params char[] allowed) => Squeezed(text).All(allowed.Contains);

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
}
