using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;

namespace PrecisionDsl.Analyzers.Tests.Infrastructure;

/// <summary>
/// References for test compilations, all offline: the .NET 10 reference assemblies shipped in
/// Basic.Reference.Assemblies (the testing framework's own packs are downloaded at test time, which CI
/// cannot do), plus the real TorchSharp.dll and PrecisionDsl.dll this test project is built against.
/// </summary>
internal static class TestReferences
{
    /// <summary>A framework with no reference-assembly package: the testing framework resolves nothing itself.</summary>
    public static ReferenceAssemblies None { get; } = new("net10.0");

    public static ImmutableArray<MetadataReference> All { get; } = Build();

    private static ImmutableArray<MetadataReference> Build()
    {
        var builder = ImmutableArray.CreateBuilder<MetadataReference>();
        builder.AddRange(Basic.Reference.Assemblies.Net100.References.All);
        builder.Add(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location));
        builder.Add(MetadataReference.CreateFromFile(typeof(PrecisionDsl.Fp16Attribute).Assembly.Location));
        return builder.ToImmutable();
    }
}
