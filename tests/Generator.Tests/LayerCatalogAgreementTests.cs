using System;
using System.Linq;
using PrecisionDsl.Generator.Policy;
using TorchSharp;
using Xunit;

namespace PrecisionDsl.Generator.Tests;

/// <summary>
/// The generator plans layers from its op table (by metadata name, it never references TorchSharp); the runtime
/// swaps and hooks them from its layer catalog (by type). Both must say the same of every TorchSharp layer, or a
/// plan table and what runs would disagree.
/// </summary>
public sealed class LayerCatalogAgreementTests
{
    public static TheoryData<Type> TorchSharpLayers()
    {
        var data = new TheoryData<Type>();
        foreach (var type in typeof(torch.nn.Module).Assembly.GetTypes()
            .Where(t => t.Namespace == "TorchSharp.Modules" && t.IsPublic && !t.IsAbstract && typeof(torch.nn.Module).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            data.Add(type);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TorchSharpLayers))]
    public void Generator_and_runtime_agree_on_the_layer(Type layer)
    {
        var metadataName = (layer.IsGenericType ? layer.GetGenericTypeDefinition() : layer).FullName!;
        var category = OpPolicy.CategoryOfLayer(metadataName, isModule: true, isPrecisionModel: false);

        Assert.Equal(LayerCatalog.IsHalfCapable(layer), category == LayerCategory.Compute);
        Assert.Equal(LayerCatalog.IsContainer(layer), category == LayerCategory.Container);
        Assert.Equal(LayerCatalog.LacksWeightAccess(layer), category == LayerCategory.NativeWeights);
        Assert.Equal(LayerCatalog.IsNorm(layer), OpPolicy.IsNorm(metadataName));
    }
}
