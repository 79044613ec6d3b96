using Microsoft.CodeAnalysis;

namespace PrecisionDsl.Generator.Analyzers;

/// <summary>
/// The runtime and TorchSharp types the analyzers compare symbols against, resolved once per compilation.
/// <see cref="TryCreate"/> fails when the PrecisionDsl runtime or TorchSharp is not referenced: then there
/// is no precision model to analyze and the analyzers register nothing.
/// </summary>
internal sealed class KnownSymbols
{
    private KnownSymbols(INamedTypeSymbol tensor, INamedTypeSymbol? scalar)
    {
        Tensor = tensor;
        Scalar = scalar;
    }

    public INamedTypeSymbol Tensor { get; }

    /// <summary>TorchSharp's <c>Scalar</c>: what a number passed to a tensor op (<c>masked_fill</c>, <c>add</c>) converts to.</summary>
    public INamedTypeSymbol? Scalar { get; }

    public static KnownSymbols? TryCreate(Compilation compilation)
    {
        var forward = compilation.GetTypeByMetadataName(TypeNames.ForwardAttribute);
        var tensor = compilation.GetTypeByMetadataName(TypeNames.Tensor);
        return forward is null || tensor is null
            ? null
            : new KnownSymbols(tensor, compilation.GetTypeByMetadataName("TorchSharp.Scalar"));
    }

    public bool IsTensor(ITypeSymbol? type) => SymbolEqualityComparer.Default.Equals(type, Tensor);
}
