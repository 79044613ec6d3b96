using System;
using System.Collections.Generic;
using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// One fp32 master parameter of a half layer and its persistent half shadow. The shadow is created
/// once (a view of the model's flat half buffer, <see cref="FlatBuffers"/>, which refreshes it from the
/// masters in place when they changed), and swapped into the slot the
/// layer's <c>forward</c> reads: the private field of a managed layer (as TorchSharp's own
/// <c>Module._to</c> does), or the weight property of a native-backed layer (<c>Embedding</c>).
/// The module's parameter registry keeps the master, so <c>parameters()</c> and <c>state_dict()</c>
/// see fp32 values. A slot of a widened layer (<see cref="LayerInputHooks"/>) also keeps an fp32 copy of
/// the shadow's half-rounded values, which the layer reads while it computes in fp32.
/// </summary>
internal sealed class ShadowSlot
{
    private const BindingFlags InstanceMembers = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    private readonly Module module;
    private readonly FieldInfo? field;
    private readonly PropertyInfo? property;

    private ShadowSlot(Module module, string name, Parameter master, ScalarType dtype, FieldInfo? field, PropertyInfo? property)
    {
        this.module = module;
        this.field = field;
        this.property = property;
        Name = name;
        Master = master;
        Shadow = Placeholder(dtype, master.requires_grad);
    }

    public string Name { get; }

    /// <summary>The layer that registers <see cref="Master"/> under <see cref="Name"/>.</summary>
    public Module Module => module;

    public Parameter Master { get; }

    public Parameter Shadow { get; }

    /// <summary>fp32 copy of <see cref="Shadow"/>'s values for a widened layer; null otherwise.</summary>
    public Parameter? Widened { get; private set; }

    /// <summary>What the layer computes with, and so what autograd gives a gradient: the widened copy, else the half shadow.</summary>
    public Parameter ComputedWith => Widened ?? Shadow;

    /// <summary>
    /// Slots for every floating parameter <paramref name="module"/> registers itself, or null when
    /// one of them has no field or settable property to swap through.
    /// </summary>
    public static List<ShadowSlot>? TryCreate(Module module, ScalarType dtype)
    {
        var fields = ParameterFields(module);
        var slots = new List<ShadowSlot>();
        foreach (var (name, master) in module.named_parameters(recurse: false))
        {
            if (!master.is_floating_point())
            {
                continue;
            }

            var field = fields.Find(f => ReferenceEquals(f.GetValue(module), master));
            var property = field is null ? WeightProperty(module, name) : null;
            if (field is null && property is null)
            {
                return null;
            }

            slots.Add(new ShadowSlot(module, name, master, dtype, field, property));
        }

        return slots;
    }

    /// <summary>True when the module no longer registers <see cref="Master"/> (e.g. after <c>model.to(device)</c> replaced it).</summary>
    public bool IsStale => !ReferenceEquals(module.get_parameter(Name), Master);

    /// <summary>Gives the slot its persistent fp32 copy of the shadow, refreshed with it from now on.</summary>
    public void Widen() => Widened ??= Placeholder(ScalarType.Float32, Master.requires_grad);

    /// <summary>Makes the shadow (and its widened copy) require a gradient exactly when the master does (a frozen master).</summary>
    public void SyncRequiresGrad()
    {
        SyncRequiresGrad(Shadow);
        if (Widened is not null)
        {
            SyncRequiresGrad(Widened);
        }
    }

    /// <summary>True when a backward left a gradient on the copy the layer computed with.</summary>
    public bool HasGradient
    {
        get
        {
            using var gradient = ComputedWith.grad;
            return gradient is not null;
        }
    }

    /// <summary>Puts the half shadow into the layer, or its fp32 copy when the layer computes widened.</summary>
    public void SwapIn() => Set(ComputedWith);

    public void SwapOut() => Set(Master);

    /// <summary>
    /// A parameter of the master's shape and <paramref name="dtype"/> over a single element (zero strides):
    /// <see cref="FlatBuffers.Build"/> makes it a view of its flat buffer, filled from the masters there, so no
    /// weight-sized copy of its own is ever allocated (one would outlive the build until its scope ends).
    /// </summary>
    private Parameter Placeholder(ScalarType dtype, bool requiresGrad)
    {
        using var noGrad = no_grad();
        using var data = empty_strided(Master.shape, new long[Master.dim()], dtype, Master.device);
        var placeholder = new Parameter(data, requiresGrad);
        placeholder.DetachFromDisposeScope();
        return placeholder;
    }

    private void SyncRequiresGrad(Parameter copy)
    {
        if (copy.requires_grad != Master.requires_grad)
        {
            copy.requires_grad_(Master.requires_grad);
        }
    }

    private void Set(Parameter value)
    {
        if (field is not null)
        {
            field.SetValue(module, value);
        }
        else
        {
            property!.SetValue(module, value);
        }
    }

    private static List<FieldInfo> ParameterFields(Module module)
    {
        var fields = new List<FieldInfo>();
        for (var type = module.GetType(); type is not null && type != typeof(Module); type = type.BaseType)
        {
            foreach (var candidate in type.GetFields(InstanceMembers | BindingFlags.DeclaredOnly))
            {
                if (typeof(Parameter).IsAssignableFrom(candidate.FieldType))
                {
                    fields.Add(candidate);
                }
            }
        }

        return fields;
    }

    /// <summary>
    /// Native-backed layers (Embedding, EmbeddingBag) hold the weight in C++; their property setter
    /// points the native module at another tensor without copying or disposing the old one.
    /// </summary>
    private static PropertyInfo? WeightProperty(Module module, string name) =>
        module is Embedding or EmbeddingBag
            ? module.GetType().GetProperty(name, BindingFlags.Instance | BindingFlags.Public) is { CanWrite: true } p
                && p.PropertyType == typeof(Parameter) ? p : null
            : null;
}
