using Microsoft.CodeAnalysis;

namespace PrecisionDsl.Generator.Analyzers
{
    /// <summary>
    /// The runtime and TorchSharp types the analyzers compare against, resolved once per compilation.
    /// <see cref="TryCreate"/> fails when the PrecisionDsl runtime or TorchSharp is not referenced:
    /// then there is no precision model to analyze.
    /// </summary>
    internal sealed class KnownSymbols
    {
        private KnownSymbols(Compilation compilation, INamedTypeSymbol fp16, INamedTypeSymbol bf16, INamedTypeSymbol keepFp32,
            INamedTypeSymbol forward, INamedTypeSymbol lossScaled, INamedTypeSymbol tensor)
        {
            Fp16Attribute = fp16;
            Bf16Attribute = bf16;
            KeepFp32Attribute = keepFp32;
            ForwardAttribute = forward;
            LossScaledAttribute = lossScaled;
            Tensor = tensor;
            ScalarType = compilation.GetTypeByMetadataName(TypeNames.ScalarType);
            Scalar = compilation.GetTypeByMetadataName("TorchSharp.Scalar");
        }

        public INamedTypeSymbol Fp16Attribute { get; }
        public INamedTypeSymbol Bf16Attribute { get; }
        public INamedTypeSymbol KeepFp32Attribute { get; }
        public INamedTypeSymbol ForwardAttribute { get; }
        public INamedTypeSymbol LossScaledAttribute { get; }
        public INamedTypeSymbol Tensor { get; }
        public INamedTypeSymbol? ScalarType { get; }
        public INamedTypeSymbol? Scalar { get; }

        public static KnownSymbols? TryCreate(Compilation compilation)
        {
            var fp16 = compilation.GetTypeByMetadataName(TypeNames.Fp16Attribute);
            var bf16 = compilation.GetTypeByMetadataName(TypeNames.Bf16Attribute);
            var keepFp32 = compilation.GetTypeByMetadataName(TypeNames.KeepFp32Attribute);
            var forward = compilation.GetTypeByMetadataName(TypeNames.ForwardAttribute);
            var lossScaled = compilation.GetTypeByMetadataName(TypeNames.LossScaledAttribute);
            var tensor = compilation.GetTypeByMetadataName(TypeNames.Tensor);
            if (fp16 is null || bf16 is null || keepFp32 is null || forward is null || lossScaled is null || tensor is null)
            {
                return null;
            }

            return new KnownSymbols(compilation, fp16, bf16, keepFp32, forward, lossScaled, tensor);
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
