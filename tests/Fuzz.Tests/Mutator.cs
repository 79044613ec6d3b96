using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace PrecisionDsl.Fuzz.Tests;

/// <summary>One source file of a fuzz case.</summary>
internal sealed record SourceFile(string Path, string Text);

/// <summary>A mutated model: its files and the mutations applied, in order (for the failure report).</summary>
internal sealed record Mutant(string SeedName, IReadOnlyList<SourceFile> Files, IReadOnlyList<string> Mutations);

/// <summary>
/// Mutates C# model sources the way half-written or unusual user code looks: tokens dropped or duplicated,
/// precision attributes swapped or stacked into conflicts, odd member types, a class split into partial
/// declarations over two files, records/structs/generic classes, huge and tiny literals, broken syntax.
/// Every choice comes from the <see cref="Random"/> passed in, so a case is reproduced by its seed.
/// </summary>
internal static class Mutator
{
    private static readonly string[] PrecisionAttributes = { "Fp16", "Bf16", "KeepFp32", "Forward", "LossScaled" };

    private static readonly string[] AddedAttributes =
    {
        "[Fp16]", "[Bf16]", "[KeepFp32]", "[Forward]", "[LossScaled]", "[Fp16, Bf16]", "[KeepFp32][Fp16]",
        "[Forward(CastResultToFp32 = false)]", "[LossScaled(InitialScale = 1e300, MinScale = -1)]",
        "[LossScaled(GrowthInterval = 0, BackoffFactor = 2)]", "[PrecisionDsl.Fp16]", "[global::PrecisionDsl.Bf16Attribute]",
        "[Fp16()]", "[Bf16(1)]", "[Forward, Forward]",
    };

    private static readonly string[] OddTypes =
    {
        "int", "object", "Tensor", "Tensor?", "Module", "Linear?", "dynamic", "System.Func<Tensor, Tensor>", "Parameter",
        "Linear[]", "System.Collections.Generic.List<Linear>", "(Linear, Linear)", "Sequential", "ModuleList<Linear>",
        "Module<Tensor, Tensor>", "UnknownLayer", "T", "System.Lazy<Linear>", "LayerNorm", "Embedding", "MultiheadAttention",
        "Conv2d", "Dropout", "var", "void", "Linear<int>", "PrecisionDsl.Fp16Attribute",
    };

    private static readonly string[] TypeKeywords = { "struct", "record", "record struct", "record class", "interface", "static class", "abstract class", "sealed class", "enum" };

    private static readonly string[] Literals =
    {
        "1e300", "1e-300", "65504", "65505", "65520", "5.96e-8", "6e-8", "1e-8", "-1e9", "1e9", "0", "-0.0", "3.4e38f",
        "1e39f", "1e-46f", "double.MaxValue", "double.Epsilon", "float.NaN", "double.PositiveInfinity", "long.MaxValue",
        "0x7FFFFFFF", "99999999999999999999", "1_000_000", "0b1", "1.0m", "(1e-8)", "-(65504 + 1)", "1e-8f", "-1e-9",
    };

    private static readonly string[] Junk =
    {
        "{", "}", "(", ")", ";", "=>", "[", "]", "\n#if NEVER\n", "\n#endif\n", "\"", "/*", "//", "@", "<", ">", "?.", "!",
        "..", "::", "\n#nullable disable\n", "\n#region r\n", "default", "await ", "yield return x;", "__arglist", ",", "=",
        "partial ", "static ", "new ", "ref ", "\u00A0", "\\u0041",
    };

    private static readonly string[] ForwardParameterLists =
    {
        "()", "(Tensor x, Tensor y)", "(int x)", "(Tensor x = null)", "(params Tensor[] xs)", "(ref Tensor x)", "(out Tensor x)",
        "(Tensor? x)", "(in Tensor x)", "(Tensor x, __arglist)", "(this Tensor x)",
    };

    private static readonly string[] ForwardReturnTypes = { "void", "Tensor?", "(Tensor, Tensor)", "System.Threading.Tasks.Task<Tensor>", "object", "int", "ref Tensor", "T" };

    private delegate bool Mutation(List<SourceFile> files, int index, Random random, out string description);

    private static readonly (int Weight, Mutation Apply)[] Mutations =
    {
        (6, DropToken),
        (4, DuplicateToken),
        (5, SwapAttribute),
        (5, AddAttribute),
        (4, OddMemberType),
        (3, ChangeTypeKind),
        (3, MakeGeneric),
        (3, SplitIntoPartials),
        (5, ReplaceLiteral),
        (4, InsertJunk),
        (1, Truncate),
        (2, DropLine),
        (2, JoinLines),
        (2, DuplicateMember),
        (3, ChangeForwardSignature),
        (1, RemovePartial),
    };

    private static readonly int TotalWeight = Mutations.Sum(m => m.Weight);

    /// <summary>Applies one to three mutations to <paramref name="seed"/>.</summary>
    public static Mutant Mutate(string seedName, SourceFile seed, Random random)
    {
        var files = new List<SourceFile> { seed };
        var applied = new List<string>();
        var wanted = 1 + random.Next(3);
        for (var attempt = 0; applied.Count < wanted && attempt < 20; attempt++)
        {
            var mutation = Pick(random);
            var index = random.Next(files.Count);
            if (mutation(files, index, random, out var description))
            {
                applied.Add($"{files[index].Path}: {description}");
            }
        }

        return new Mutant(seedName, files, applied);
    }

    private static Mutation Pick(Random random)
    {
        var roll = random.Next(TotalWeight);
        foreach (var (weight, apply) in Mutations)
        {
            if ((roll -= weight) < 0)
            {
                return apply;
            }
        }

        throw new InvalidOperationException("unreachable: weights cover the roll");
    }

    private static bool DropToken(List<SourceFile> files, int index, Random random, out string description) =>
        OnToken(files, index, random, _ => true, (token, _) => "", "dropped", out description);

    private static bool DuplicateToken(List<SourceFile> files, int index, Random random, out string description) =>
        OnToken(files, index, random, _ => true, (token, _) => token.Text + " " + token.Text, "duplicated", out description);

    private static bool ReplaceLiteral(List<SourceFile> files, int index, Random random, out string description) =>
        OnToken(files, index, random, t => t.IsKind(SyntaxKind.NumericLiteralToken), (_, r) => Literals[r.Next(Literals.Length)], "literal replaced", out description);

    private static bool SwapAttribute(List<SourceFile> files, int index, Random random, out string description)
    {
        var attributes = Root(files[index]).DescendantNodes().OfType<AttributeSyntax>()
            .Where(a => PrecisionAttributes.Contains(a.Name.ToString())).ToList();
        if (attributes.Count == 0)
        {
            description = "";
            return false;
        }

        var attribute = attributes[random.Next(attributes.Count)];
        var others = PrecisionAttributes.Where(a => a != attribute.Name.ToString()).ToArray();
        var replacement = others[random.Next(others.Length)];
        description = $"attribute [{attribute.Name}] at {attribute.Name.SpanStart} became [{replacement}]";
        Replace(files, index, attribute.Name.Span, replacement);
        return true;
    }

    private static bool AddAttribute(List<SourceFile> files, int index, Random random, out string description) =>
        OnMember(files, index, random, m => m is FieldDeclarationSyntax or PropertyDeclarationSyntax or MethodDeclarationSyntax or TypeDeclarationSyntax,
            (member, r) => (new TextSpan(member.SpanStart, 0), AddedAttributes[r.Next(AddedAttributes.Length)] + " "), "attribute added", out description);

    private static bool OddMemberType(List<SourceFile> files, int index, Random random, out string description) =>
        OnMember(files, index, random, m => m is FieldDeclarationSyntax or PropertyDeclarationSyntax,
            (member, r) => (member is FieldDeclarationSyntax field ? field.Declaration.Type.Span : ((PropertyDeclarationSyntax)member).Type.Span, OddTypes[r.Next(OddTypes.Length)]),
            "member type replaced", out description);

    private static bool ChangeTypeKind(List<SourceFile> files, int index, Random random, out string description) =>
        OnMember(files, index, random, m => m is ClassDeclarationSyntax,
            (member, r) => (((ClassDeclarationSyntax)member).Keyword.Span, TypeKeywords[r.Next(TypeKeywords.Length)]), "class keyword replaced", out description);

    private static bool MakeGeneric(List<SourceFile> files, int index, Random random, out string description) =>
        OnMember(files, index, random, m => m is ClassDeclarationSyntax { TypeParameterList: null },
            (member, r) => (new TextSpan(((ClassDeclarationSyntax)member).Identifier.Span.End, 0), r.Next(3) switch
            {
                0 => "<T>",
                1 => "<T, U>",
                _ => "<T> where T : Tensor ",
            }), "made generic", out description);

    private static bool RemovePartial(List<SourceFile> files, int index, Random random, out string description) =>
        OnToken(files, index, random, t => t.IsKind(SyntaxKind.PartialKeyword), (_, _) => "", "partial removed", out description);

    private static bool DuplicateMember(List<SourceFile> files, int index, Random random, out string description) =>
        OnMember(files, index, random, m => m is not TypeDeclarationSyntax,
            (member, _) => (new TextSpan(member.Span.End, 0), "\n" + member.ToString()), "member duplicated", out description);

    private static bool ChangeForwardSignature(List<SourceFile> files, int index, Random random, out string description) =>
        OnMember(files, index, random, m => m is MethodDeclarationSyntax method && method.AttributeLists.SelectMany(l => l.Attributes).Any(a => a.Name.ToString() == "Forward"),
            (member, r) =>
            {
                var method = (MethodDeclarationSyntax)member;
                return r.Next(2) == 0
                    ? (method.ParameterList.Span, ForwardParameterLists[r.Next(ForwardParameterLists.Length)])
                    : (method.ReturnType.Span, ForwardReturnTypes[r.Next(ForwardReturnTypes.Length)]);
            }, "forward signature changed", out description);

    private static bool InsertJunk(List<SourceFile> files, int index, Random random, out string description)
    {
        var tokens = Root(files[index]).DescendantTokens().ToList();
        var at = tokens.Count == 0 ? 0 : tokens[random.Next(tokens.Count)].SpanStart;
        var junk = Junk[random.Next(Junk.Length)];
        description = $"inserted {Escape(junk)} at {at}";
        Replace(files, index, new TextSpan(at, 0), junk);
        return true;
    }

    private static bool Truncate(List<SourceFile> files, int index, Random random, out string description)
    {
        var text = files[index].Text;
        var keep = random.Next(text.Length);
        description = $"truncated to {keep} characters";
        files[index] = files[index] with { Text = text.Substring(0, keep) };
        return true;
    }

    private static bool DropLine(List<SourceFile> files, int index, Random random, out string description)
    {
        var lines = files[index].Text.Split('\n').ToList();
        var line = random.Next(lines.Count);
        description = $"dropped line {line + 1}";
        lines.RemoveAt(line);
        files[index] = files[index] with { Text = string.Join("\n", lines) };
        return true;
    }

    /// <summary>Joins a line that ends a statement or block with the next one, as in <c>var a = f(x); return a;</c>.</summary>
    private static bool JoinLines(List<SourceFile> files, int index, Random random, out string description)
    {
        var lines = files[index].Text.Split('\n').ToList();
        var ends = Enumerable.Range(0, lines.Count - 1).Where(i => lines[i].TrimEnd().EndsWith(";") || lines[i].TrimEnd().EndsWith("}") || lines[i].TrimEnd().EndsWith("{")).ToList();
        if (ends.Count == 0)
        {
            description = "";
            return false;
        }

        var line = ends[random.Next(ends.Count)];
        description = $"joined line {line + 1} with the next";
        lines[line] = lines[line].TrimEnd() + " " + lines[line + 1].TrimStart();
        lines.RemoveAt(line + 1);
        files[index] = files[index] with { Text = string.Join("\n", lines) };
        return true;
    }

    /// <summary>
    /// Moves some members of a top-level class into a second file as another partial declaration of the same
    /// class (same namespace, usings and type parameters), the way large models are often organised.
    /// </summary>
    private static bool SplitIntoPartials(List<SourceFile> files, int index, Random random, out string description)
    {
        description = "";
        var root = Root(files[index]);
        var candidates = root.DescendantNodes().OfType<TypeDeclarationSyntax>()
            .Where(t => t.Members.Count >= 2 && t.Parent is BaseNamespaceDeclarationSyntax or CompilationUnitSyntax)
            .ToList();
        if (candidates.Count == 0)
        {
            return false;
        }

        var type = candidates[random.Next(candidates.Count)];
        var moved = type.Members.Where(_ => random.Next(2) == 0).ToList();
        if (moved.Count == 0 || moved.Count == type.Members.Count)
        {
            moved = new List<MemberDeclarationSyntax> { type.Members[random.Next(type.Members.Count)] };
        }

        var keyword = type is RecordDeclarationSyntax record
            ? "record " + (record.ClassOrStructKeyword.IsKind(SyntaxKind.None) ? "" : record.ClassOrStructKeyword.Text + " ")
            : type.Keyword.Text + " ";
        var declaration = $"partial {keyword}{type.Identifier.Text}{type.TypeParameterList}\n{{\n{string.Join("\n", moved.Select(m => m.ToFullString()))}\n}}\n";
        var usings = string.Concat(((CompilationUnitSyntax)root).Usings.Select(u => u.ToFullString()));
        var second = type.Parent is BaseNamespaceDeclarationSyntax ns
            ? $"{usings}\nnamespace {ns.Name}\n{{\n{declaration}}}\n"
            : usings + "\n" + declaration;

        var text = files[index].Text;
        foreach (var member in moved.OrderByDescending(m => m.FullSpan.Start))
        {
            text = text.Remove(member.FullSpan.Start, member.FullSpan.Length);
        }

        var path = $"Part{files.Count}.cs";
        files[index] = files[index] with { Text = text };
        files.Add(new SourceFile(path, second));
        description = $"moved {moved.Count} member(s) of {type.Identifier.Text} to a partial declaration in {path}";
        return true;
    }

    private static bool OnToken(List<SourceFile> files, int index, Random random, Func<SyntaxToken, bool> where,
        Func<SyntaxToken, Random, string> replacement, string what, out string description)
    {
        var tokens = Root(files[index]).DescendantTokens().Where(t => t.Span.Length > 0 && where(t)).ToList();
        if (tokens.Count == 0)
        {
            description = "";
            return false;
        }

        var token = tokens[random.Next(tokens.Count)];
        var text = replacement(token, random);
        description = $"{what} '{Escape(token.Text)}' at {token.SpanStart}" + (text.Length > 0 && what != "duplicated" ? $" -> '{Escape(text)}'" : "");
        Replace(files, index, token.Span, text);
        return true;
    }

    private static bool OnMember(List<SourceFile> files, int index, Random random, Func<MemberDeclarationSyntax, bool> where,
        Func<MemberDeclarationSyntax, Random, (TextSpan Span, string Text)> edit, string what, out string description)
    {
        var members = Root(files[index]).DescendantNodes().OfType<MemberDeclarationSyntax>().Where(where).ToList();
        if (members.Count == 0)
        {
            description = "";
            return false;
        }

        var member = members[random.Next(members.Count)];
        var (span, text) = edit(member, random);
        var line = member.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
        description = $"{what} on the {member.Kind()} at line {line}: '{Escape(files[index].Text.Substring(span.Start, span.Length))}' -> '{Escape(text)}'";
        Replace(files, index, span, text);
        return true;
    }

    private static SyntaxNode Root(SourceFile file) => CSharpSyntaxTree.ParseText(file.Text, FuzzHarness.ParseOptions).GetRoot();

    private static void Replace(List<SourceFile> files, int index, TextSpan span, string text) =>
        files[index] = files[index] with { Text = files[index].Text.Remove(span.Start, span.Length).Insert(span.Start, text) };

    private static string Escape(string text)
    {
        var escaped = text.Replace("\n", "\\n");
        return escaped.Length > 60 ? escaped.Substring(0, 60) + "..." : escaped;
    }
}
