using System;
using System.Linq;
using TorchSharp.Modules;

namespace PrecisionDsl
{
    /// <summary>
    /// Which TorchSharp layer types run in half when a container (<c>Sequential</c>, <c>ModuleList</c>,
    /// <c>ModuleDict</c>) is given a half precision. Data, not branches: extend the arrays to teach the
    /// runtime a layer. Everything else inside a container (norms, activations, pooling, ...) stays fp32.
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

        /// <summary>
        /// In the half list, but TorchSharp 0.107 keeps their weights inside native code with no setter,
        /// so they cannot be swapped to half shadows without re-allocating every step: they stay fp32.
        /// </summary>
        internal static readonly Type[] HalfCapableWithoutWeightAccess = { typeof(MultiheadAttention) };

        /// <summary>
        /// Half layers whose work is one kernel family's product: they run widened where that family's half
        /// kernel does (<see cref="PrecisionPolicy.Widens"/>).
        /// </summary>
        internal static readonly (Type Layer, KernelFamily Family)[] KernelFamilies =
        {
            (typeof(Linear), KernelFamily.Linear),
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

        internal static bool LacksWeightAccess(Type type) => Matches(type, HalfCapableWithoutWeightAccess);

        internal static bool IsContainer(Type type) => Matches(type, Containers);

        /// <summary>A nested precision model: its generated code holds its own <see cref="MixedPrecisionState"/>.</summary>
        internal static bool IsPrecisionModel(Type type) => MixedPrecisionState.StateFieldsOf(type).Length > 0;

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
}
