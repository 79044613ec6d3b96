using Microsoft.CodeAnalysis;
using PrecisionDsl.Generator.Parsing;

namespace PrecisionDsl.Generator.Analyzers
{
    /// <summary>
    /// Which classes the analyzers plan: exactly those the generator's pipeline finds — a class carrying
    /// <c>[Fp16]</c>/<c>[Bf16]</c>, or one of whose own fields, properties or methods carries a PrecisionDsl
    /// attribute. A class that merely contains a nested precision model is not one itself.
    /// </summary>
    internal static class PrecisionModelCandidates
    {
        public static bool IsCandidate(INamedTypeSymbol type)
        {
            if (type.TypeKind != TypeKind.Class)
            {
                return false;
            }

            foreach (var attribute in type.GetAttributes())
            {
                if (SymbolFacts.IsAttribute(attribute, TypeNames.Fp16Attribute) || SymbolFacts.IsAttribute(attribute, TypeNames.Bf16Attribute))
                {
                    return true;
                }
            }

            foreach (var member in type.GetMembers())
            {
                if (member is IFieldSymbol or IPropertySymbol or IMethodSymbol && HasPrecisionDslAttribute(member))
                {
                    return true;
                }
            }

            return false;
        }

        private static bool HasPrecisionDslAttribute(ISymbol member)
        {
            foreach (var attribute in member.GetAttributes())
            {
                if (SymbolFacts.IsAttribute(attribute, TypeNames.Fp16Attribute) || SymbolFacts.IsAttribute(attribute, TypeNames.Bf16Attribute)
                    || SymbolFacts.IsAttribute(attribute, TypeNames.KeepFp32Attribute) || SymbolFacts.IsAttribute(attribute, TypeNames.ForwardAttribute)
                    || SymbolFacts.IsAttribute(attribute, TypeNames.LossScaledAttribute))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
