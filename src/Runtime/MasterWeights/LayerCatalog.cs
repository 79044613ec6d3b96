using System;
using System.Linq;
using TorchSharp.Modules;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// How TorchSharp layer types run inside a container (<c>Sequential</c>, <c>ModuleList</c>,
/// <c>ModuleDict</c>) given a half precision: half-capable layers in half, norms and other layers with
/// weights of their own in fp32 with fp32 input, everything else (activations, pooling, ...) in what it
/// receives. Data, not branches: extend the arrays to teach the runtime a layer. The generator's op table
/// (<c>src/Generator/Policy/OpPolicy.cs</c>) names the same types; <c>LayerCatalogAgreementTests</c> checks they agree.
/// </summary>
internal static class LayerCatalog
{
    /// <summary>Layers whose weights run in half inside a half container (the op policy's half list).</summary>
    internal static readonly Type[] HalfCapable =
    {
        typeof(Linear), typeof(Bilinear),
        typeof(Conv1d), typeof(Conv2d), typeof(Conv3d),
        typeof(ConvTranspose1d), typeof(ConvTranspose2d), typeof(ConvTranspose3d),
        typeof(Embedding), typeof(EmbeddingBag),
        typeof(PReLU),
    };

    /// <summary>Numerically sensitive layers: fp32 with fp32 input inside a half container (also when they hold no weights).</summary>
    internal static readonly Type[] Norms =
    {
        typeof(NormBase), // BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d
        typeof(LayerNorm), typeof(GroupNorm), typeof(LocalResponseNorm),
    };

    /// <summary>
    /// Layers TorchSharp 0.107 keeps with their weights inside native code and no setter, so they cannot be
    /// swapped to half shadows without re-allocating every step: they stay fp32 (attention, recurrent, Transformer).
    /// </summary>
    internal static readonly Type[] NativeWeights =
    {
        typeof(MultiheadAttention), typeof(LSTM), typeof(GRU), typeof(RNN), typeof(LSTMCell), typeof(GRUCell), typeof(RNNCell),
        typeof(Transformer), typeof(TransformerEncoder), typeof(TransformerEncoderLayer), typeof(TransformerDecoder),
        typeof(TransformerDecoderLayer),
    };

    /// <summary>
    /// Half layers whose work is one kernel family's product: they run widened where that family's half
    /// kernel does (<see cref="PrecisionPolicy.Widens"/>).
    /// </summary>
    internal static readonly (Type Layer, KernelFamily Family)[] KernelFamilies =
    {
        (typeof(Linear), KernelFamily.Linear),
        (typeof(Bilinear), KernelFamily.Batched), // libtorch's bilinear contracts with batched products
        (typeof(Conv1d), KernelFamily.Conv1d), (typeof(Conv2d), KernelFamily.Conv2d), (typeof(Conv3d), KernelFamily.Conv3d),
        (typeof(ConvTranspose1d), KernelFamily.ConvTranspose1d),
        (typeof(ConvTranspose2d), KernelFamily.ConvTranspose2d),
        (typeof(ConvTranspose3d), KernelFamily.ConvTranspose3d),
    };

    /// <summary>Containers that pass their precision on to the layers inside them (open generics match any closing).</summary>
    internal static readonly Type[] Containers =
    {
        typeof(Sequential),
        typeof(Sequential<,>), typeof(Sequential<,,>), typeof(Sequential<,,,>),
        typeof(Sequential<,,,,>), typeof(Sequential<,,,,,>), typeof(Sequential<,,,,,,>),
        typeof(ModuleList<>), typeof(ModuleDict<>),
    };

    internal static bool IsHalfCapable(Type type) => Matches(type, HalfCapable);

    /// <summary>The kernel family of a layer in <see cref="KernelFamilies"/> (or derived from one); null for any other.</summary>
    internal static KernelFamily? FamilyOf(Type type) =>
        KernelFamilies.Where(entry => entry.Layer.IsAssignableFrom(type)).Select(entry => (KernelFamily?)entry.Family).FirstOrDefault();

    internal static bool LacksWeightAccess(Type type) => Matches(type, NativeWeights);

    internal static bool IsContainer(Type type) => Matches(type, Containers);

    /// <summary>A layer inside a half container that must see fp32 input: a norm, or any other layer with fp32 weights of its own.</summary>
    internal static bool TakesFp32Input(Module module) =>
        IsNorm(module.GetType()) || module.parameters(recurse: false).Any(p => p.is_floating_point());

    internal static bool IsNorm(Type type) => Matches(type, Norms);

    /// <summary>
    /// A module written by the user (not a TorchSharp layer): inside a half container its children are
    /// planned one by one, like the container's own.
    /// </summary>
    internal static bool IsUserBlock(Type type) => type.Assembly != typeof(Module).Assembly;

    /// <summary>A nested precision model: its generated code holds its own <see cref="MixedPrecisionState"/>.</summary>
    internal static bool IsPrecisionModel(Type type) => typeof(IPrecisionModel).IsAssignableFrom(type);

    private static bool Matches(Type type, Type[] catalog)
    {
        for (var current = type; current is not null; current = current.BaseType)
        {
            var candidate = current.IsGenericType ? current.GetGenericTypeDefinition() : current;
            if (catalog.Contains(candidate))
            {
                return true;
            }
        }

        return false;
    }
}
