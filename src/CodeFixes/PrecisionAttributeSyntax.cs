using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PrecisionDsl.CodeFixes;

/// <summary>Finds and edits the precision attributes (<c>[Fp16]</c>, <c>[Bf16]</c>, <c>[KeepFp32]</c>) of a declaration.</summary>
internal static class PrecisionAttributeSyntax
{
    public const string Fp16 = "PrecisionDsl.Fp16Attribute";
    public const string Bf16 = "PrecisionDsl.Bf16Attribute";
    public const string KeepFp32 = "PrecisionDsl.KeepFp32Attribute";

    /// <summary>The field, property or class declaration that owns <paramref name="node"/>.</summary>
    public static MemberDeclarationSyntax? OwningDeclaration(SyntaxNode node) =>
        node.FirstAncestorOrSelf<MemberDeclarationSyntax>(m =>
            m is FieldDeclarationSyntax or PropertyDeclarationSyntax or TypeDeclarationSyntax);

    /// <summary>The precision attributes on <paramref name="declaration"/> with the metadata name of each.</summary>
    public static List<(AttributeSyntax Attribute, string MetadataName)> Find(MemberDeclarationSyntax declaration, SemanticModel model)
    {
        var found = new List<(AttributeSyntax, string)>();
        foreach (var attribute in declaration.AttributeLists.SelectMany(list => list.Attributes))
        {
            var type = model.GetTypeInfo(attribute).Type;
            var name = type is null ? null : type.ContainingNamespace?.ToDisplayString() + "." + type.MetadataName;
            if (name is Fp16 or Bf16 or KeepFp32)
            {
                found.Add((attribute, name));
            }
        }

        return found;
    }

    /// <summary>Short name as users write it: "PrecisionDsl.KeepFp32Attribute" → "KeepFp32".</summary>
    public static string ShortName(string metadataName)
    {
        var simple = metadataName.Substring(metadataName.LastIndexOf('.') + 1);
        return simple.EndsWith("Attribute") ? simple.Substring(0, simple.Length - "Attribute".Length) : simple;
    }

    /// <summary>
    /// Removes attributes, dropping an attribute list that becomes empty. The user's layout stays: a
    /// removed first list hands its leading trivia (indentation, comments) to whatever now comes first.
    /// </summary>
    public static MemberDeclarationSyntax RemoveAttributes(MemberDeclarationSyntax declaration, ICollection<AttributeSyntax> attributes)
    {
        var leading = declaration.GetLeadingTrivia();
        var lists = new List<AttributeListSyntax>();
        foreach (var list in declaration.AttributeLists)
        {
            var kept = list.Attributes.Where(a => !attributes.Contains(a)).ToList();
            if (kept.Count == list.Attributes.Count)
            {
                lists.Add(list);
            }
            else if (kept.Count > 0)
            {
                var commas = Enumerable.Repeat(SyntaxFactory.Token(SyntaxKind.CommaToken).WithTrailingTrivia(SyntaxFactory.Space), kept.Count - 1);
                lists.Add(list.WithAttributes(SyntaxFactory.SeparatedList(kept, commas)));
            }
        }

        var edited = declaration.WithAttributeLists(SyntaxFactory.List(lists));
        return edited.WithLeadingTrivia(leading);
    }

    /// <summary>Replaces <paramref name="attribute"/> with <c>KeepFp32</c>, keeping its place in the list.</summary>
    public static AttributeSyntax ToKeepFp32(AttributeSyntax attribute) =>
        SyntaxFactory.Attribute(SyntaxFactory.IdentifierName("KeepFp32")).WithTriviaFrom(attribute);

    /// <summary>Adds <c>[KeepFp32] </c> in front of the declaration, on its line.</summary>
    public static MemberDeclarationSyntax AddKeepFp32(MemberDeclarationSyntax declaration)
    {
        var leading = declaration.GetLeadingTrivia();
        var list = SyntaxFactory.AttributeList(SyntaxFactory.SingletonSeparatedList(
                SyntaxFactory.Attribute(SyntaxFactory.IdentifierName("KeepFp32"))))
            .WithTrailingTrivia(SyntaxFactory.Space);
        var bare = declaration.WithoutLeadingTrivia();
        return bare.WithAttributeLists(bare.AttributeLists.Insert(0, list)).WithLeadingTrivia(leading);
    }
}
