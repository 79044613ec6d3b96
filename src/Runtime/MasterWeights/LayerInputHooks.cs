using System;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// Forward hooks that give one layer the input dtype its precision needs while a generated forward of the
/// owning model runs on the calling thread. The generator casts the inputs of the layers it calls itself;
/// these hooks do it for the layers it cannot see: those inside containers (a norm gets fp32, a Linear its
/// half dtype). They also run half Linear/Conv layers <em>widened</em> (see <see cref="HalfMatmulKernel"/>):
/// such a layer holds fp32 copies of its half-rounded weights for the whole forward, the hooks round its
/// input to half and widen it to fp32, and round its output back to half — a half layer's values with fp32
/// accumulation, on fp32's kernel.
/// </summary>
/// <remarks>
/// Hooks, not a replacement forward, so layers inside containers and user blocks are covered, and a layer
/// called outside the generated forward (the fp32 reference path) is left alone. They keep no per-call state,
/// so threads running generated forwards of one model at once do not disturb each other.
/// </remarks>
internal sealed class LayerInputHooks : IDisposable
{
    private readonly ScalarType dtype;
    private readonly bool widened;
    private readonly Func<bool> inForward;
    private readonly Action removeHooks;

    private LayerInputHooks(Module layer, ScalarType dtype, bool widened, Func<bool> inForward)
    {
        Layer = layer;
        this.dtype = dtype;
        this.widened = widened;
        this.inForward = inForward;
        removeHooks = layer switch
        {
            nn.Module<Tensor, Tensor> single => HookSingleInput(single),
            nn.Module<Tensor, Tensor, Tensor> pair => HookTwoInputs(pair),
            _ => throw new ArgumentException($"{layer.GetType().Name} takes neither one nor two tensors.", nameof(layer)),
        };
    }

    /// <summary>
    /// Hooks <paramref name="module"/> when it takes one tensor (Linear, Conv, norms...) or two (Bilinear);
    /// null otherwise.
    /// </summary>
    /// <param name="module">The layer.</param>
    /// <param name="dtype">The dtype its floating input is cast to: its half dtype, or fp32.</param>
    /// <param name="widened">True when the layer holds fp32 copies of its half weights and computes widened.</param>
    /// <param name="inForward">True while a generated forward of the owning model runs on the calling thread.</param>
    public static LayerInputHooks? TryAttach(Module module, ScalarType dtype, bool widened, Func<bool> inForward) =>
        module is nn.Module<Tensor, Tensor> or nn.Module<Tensor, Tensor, Tensor> ? new LayerInputHooks(module, dtype, widened, inForward) : null;

    /// <summary>The hooked layer.</summary>
    public Module Layer { get; }

    public void Dispose() => removeHooks();

    private Action HookSingleInput(nn.Module<Tensor, Tensor> layer)
    {
        var pre = layer.register_forward_pre_hook((_, input) => inForward() ? Cast(input)! : null!);
        var post = widened ? layer.register_forward_hook((_, _, output) => Round(output)) : null;
        return () =>
        {
            pre.remove();
            post?.remove();
        };
    }

    private Action HookTwoInputs(nn.Module<Tensor, Tensor, Tensor> layer)
    {
        var pre = layer.register_forward_pre_hook((_, first, second) =>
        {
            if (!inForward())
            {
                return null;
            }

            var (castFirst, castSecond) = (Cast(first), Cast(second));
            return castFirst is null && castSecond is null ? null : (castFirst ?? first, castSecond ?? second);
        });
        var post = widened ? layer.register_forward_hook((_, _, _, output) => Round(output)) : null;
        return () =>
        {
            pre.remove();
            post?.remove();
        };
    }

    /// <summary>What the layer should receive instead of <paramref name="input"/>, or null to leave it.</summary>
    private Tensor? Cast(Tensor input)
    {
        var current = input.dtype; // read once: a call into libtorch at every hooked layer call
        if (!Precision.IsFloating(current))
        {
            return null;
        }

        if (!widened)
        {
            return current == dtype ? null : input.to(dtype);
        }

        // Rounded to half first, so the values are those the native half layer would see.
        if (current == dtype)
        {
            return input.to(ScalarType.Float32);
        }

        using var rounded = input.to(dtype);
        return rounded.to(ScalarType.Float32);
    }

    private Tensor Round(Tensor output) => inForward() ? output.to(dtype) : null!;
}
