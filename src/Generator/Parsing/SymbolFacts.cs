using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace PrecisionDsl.Generator.Parsing;

/// <summary>Questions about symbols, answered by metadata name (the generator never references TorchSharp).</summary>
internal static class SymbolFacts
{
    /// <summary>Suffix of every generated file; members declared there are not the user's.</summary>
    public const string GeneratedFileSuffix = ".PrecisionDsl.g.cs";

    public static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>"TorchSharp.torch+nn+Module`2" — the form <c>Compilation.GetTypeByMetadataName</c> takes.</summary>
    public static string MetadataName(ITypeSymbol? type)
    {
        if (type is not INamedTypeSymbol named)
        {
            return type?.ToDisplayString() ?? "";
        }

        named = named.OriginalDefinition;
        if (named.ContainingType is not null)
        {
            return MetadataName(named.ContainingType) + "+" + named.MetadataName;
        }

        var ns = named.ContainingNamespace;
        return ns is null || ns.IsGlobalNamespace ? named.MetadataName : ns.ToDisplayString() + "." + named.MetadataName;
    }

    /// <summary>Whether <paramref name="type"/> or a type it is built from did not bind.</summary>
    public static bool ContainsErrorType(ITypeSymbol type) => type switch
    {
        { TypeKind: TypeKind.Error } => true,
        IArrayTypeSymbol array => ContainsErrorType(array.ElementType),
        IPointerTypeSymbol pointer => ContainsErrorType(pointer.PointedAtType),
        INamedTypeSymbol named => named.TypeArguments.Any(ContainsErrorType) || (named.ContainingType is { } outer && ContainsErrorType(outer)),
        _ => false,
    };

    public static bool IsTensor(ITypeSymbol? type) => DerivesFrom(type, TypeNames.Tensor);

    public static bool IsModule(ITypeSymbol? type) => DerivesFrom(type, TypeNames.ModuleBase);

    public static bool IsScalarType(ITypeSymbol? type)
    {
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            type = nullable.TypeArguments[0];
        }

        return MetadataName(type) == TypeNames.ScalarType;
    }

    /// <summary>TorchSharp's <c>Module</c> or <c>Module&lt;...&gt;</c> itself: says nothing about the layer behind it.</summary>
    public static bool IsModuleBase(ITypeSymbol? type) =>
        MetadataName(type) is var name && (name == TypeNames.ModuleBase || name.StartsWith(TypeNames.GenericModulePrefix, System.StringComparison.Ordinal));

    /// <summary>Sequential, ModuleList&lt;T&gt; or ModuleDict&lt;T&gt;.</summary>
    public static bool IsContainer(ITypeSymbol? type) =>
        System.Array.IndexOf(TypeNames.Containers, MetadataName(type)) >= 0;

    /// <summary>The <c>Module&lt;...&gt;</c> base of a type, or null.</summary>
    public static INamedTypeSymbol? FindGenericModuleBase(INamedTypeSymbol type)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            if (MetadataName(current).StartsWith(TypeNames.GenericModulePrefix, System.StringComparison.Ordinal))
            {
                return current;
            }
        }

        return null;
    }

    /// <summary>ModuleList&lt;T&gt; or ModuleDict&lt;T&gt;: containers whose type argument is the element layer type.</summary>
    public static bool IsElementContainer(INamedTypeSymbol type) =>
        MetadataName(type) is TypeNames.LayerNamespace + ".ModuleList`1" or TypeNames.LayerNamespace + ".ModuleDict`1";

    public static bool IsInTorchSharp(ISymbol symbol)
    {
        var ns = symbol.ContainingNamespace?.ToDisplayString() ?? "";
        return ns == TypeNames.TorchSharpNamespace || ns.StartsWith(TypeNames.TorchSharpNamespace + ".", System.StringComparison.Ordinal);
    }

    public static bool IsAttribute(AttributeData attribute, string metadataName) =>
        attribute.AttributeClass is { } cls && MetadataName(cls) == metadataName;

    public static bool IsGenerated(ISymbol symbol) =>
        symbol.DeclaringSyntaxReferences.Any(r => r.SyntaxTree.FilePath.EndsWith(GeneratedFileSuffix, System.StringComparison.Ordinal));

    /// <summary>
    /// The one "is this a precision model?" check, shared by the generator's pipeline, the analyzers and the
    /// parser (for layer members): a class that, or one of whose own fields, properties or methods, carries a
    /// PrecisionDsl attribute. A class that merely contains a nested precision model is not one itself.
    /// </summary>
    public static bool IsPrecisionModel(INamedTypeSymbol type) => type.TypeKind == TypeKind.Class && FirstAttributedSymbol(type) is not null;

    /// <summary>
    /// The class itself when it carries a PrecisionDsl attribute, else its first field, property or ordinary method
    /// that does (declaration order): the symbols the generator's attribute pipelines are keyed on. Null when none does.
    /// </summary>
    public static ISymbol? FirstAttributedSymbol(INamedTypeSymbol type)
    {
        if (type.GetAttributes().Any(IsPrecisionDslAttribute))
        {
            return type;
        }

        return type.GetMembers().FirstOrDefault(m =>
            !m.IsImplicitlyDeclared
            && m is IFieldSymbol or IPropertySymbol or IMethodSymbol { MethodKind: MethodKind.Ordinary }
            && m.GetAttributes().Any(IsPrecisionDslAttribute));
    }

    /// <summary>
    /// The first class above <paramref name="type"/> that gets a generated forward (a precision model declared partial
    /// in source, with the types around it), or null. The generator does not see that forward, so there
    /// <c>base.forward(...)</c> binds to Module's abstract one (CS0205); in the build, where it exists, the call compiles.
    /// </summary>
    public static INamedTypeSymbol? BaseWithGeneratedForward(INamedTypeSymbol type)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            if (IsPrecisionModel(current) && current.DeclaringSyntaxReferences.Length > 0
                && current.DeclaringSyntaxReferences.All(r => r.GetSyntax() is ClassDeclarationSyntax declaration
                    && declaration.AncestorsAndSelf().OfType<TypeDeclarationSyntax>().All(t => t.Modifiers.Any(SyntaxKind.PartialKeyword))))
            {
                return current;
            }
        }

        return null;
    }

    private static bool IsPrecisionDslAttribute(AttributeData attribute) =>
        IsAttribute(attribute, TypeNames.Fp16Attribute) || IsAttribute(attribute, TypeNames.Bf16Attribute)
        || IsAttribute(attribute, TypeNames.KeepFp32Attribute) || IsAttribute(attribute, TypeNames.ForwardAttribute)
        || IsAttribute(attribute, TypeNames.LossScaledAttribute);

    private static bool DerivesFrom(ITypeSymbol? type, string metadataName)
    {
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (MetadataName(current) == metadataName)
            {
                return true;
            }
        }

        return false;
    }
}
