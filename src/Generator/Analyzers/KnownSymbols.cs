using Microsoft.CodeAnalysis;

namespace PrecisionDsl.Generator.Analyzers
{
    /// <summary>
    /// The runtime and TorchSharp types the analyzers compare symbols against, resolved once per compilation.
    /// <see cref="TryCreate"/> fails when the PrecisionDsl runtime or TorchSharp is not referenced: then there
    /// is no precision model to analyze and the analyzers register nothing.
    /// </summary>
    internal sealed class KnownSymbols
    {
        private KnownSymbols(INamedTypeSymbol forwardAttribute, INamedTypeSymbol tensor, INamedTypeSymbol? scalarType, INamedTypeSymbol? scalar)
        {
            ForwardAttribute = forwardAttribute;
            Tensor = tensor;
            ScalarType = scalarType;
            Scalar = scalar;
        }

        public INamedTypeSymbol ForwardAttribute { get; }

        public INamedTypeSymbol Tensor { get; }

        public INamedTypeSymbol? ScalarType { get; }

        /// <summary>TorchSharp's <c>Scalar</c>: what a number passed to a tensor op (<c>masked_fill</c>, <c>add</c>) converts to.</summary>
        public INamedTypeSymbol? Scalar { get; }

        public static KnownSymbols? TryCreate(Compilation compilation)
        {
            var forward = compilation.GetTypeByMetadataName(TypeNames.ForwardAttribute);
            var tensor = compilation.GetTypeByMetadataName(TypeNames.Tensor);
            return forward is null || tensor is null
                ? null
                : new KnownSymbols(forward, tensor, compilation.GetTypeByMetadataName(TypeNames.ScalarType), compilation.GetTypeByMetadataName("TorchSharp.Scalar"));
        }

        public bool IsTensor(ITypeSymbol? type) => SymbolEqualityComparer.Default.Equals(type, Tensor);

        public bool HasAttribute(ISymbol symbol, INamedTypeSymbol attribute)
        {
            foreach (var data in symbol.GetAttributes())
            {
                if (SymbolEqualityComparer.Default.Equals(data.AttributeClass, attribute))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
