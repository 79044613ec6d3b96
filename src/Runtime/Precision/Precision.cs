using System;
using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>Dtype helpers the generated <c>forward</c> calls where a value changes precision.</summary>
public static class Precision
{
    /// <summary>
    /// Casts a floating tensor to <paramref name="dtype"/>. A tensor already of that dtype, a
    /// non-floating tensor (indices, masks) and null are returned as they are, so the generated code
    /// can cast every operand without knowing its type.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="dtype"/> is not a floating dtype while <paramref name="tensor"/> is floating
    /// (a cast that would silently truncate values is never a precision change).
    /// </exception>
    [return: NotNullIfNotNull(nameof(tensor))]
    public static Tensor? Cast(Tensor? tensor, ScalarType dtype)
    {
        // One native read of the dtype: every generated cast comes through here, and each call into libtorch counts
        // where a step is launch-bound.
        if (tensor is null)
        {
            return null;
        }

        var current = tensor.dtype;
        if (current == dtype || !IsFloating(current))
        {
            return tensor;
        }

        if (!IsFloating(dtype))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"Precision casts go to a floating dtype; the tensor is {current}.");
        }

        return tensor.to(dtype);
    }

    /// <summary>
    /// The widest floating dtype among <paramref name="tensors"/>, the dtype a promote-list op
    /// (cat, stack, where, ...) casts its operands to. Float16 with BFloat16 widens to Float32, since
    /// neither holds the other. Non-floating tensors and nulls do not take part; when none is floating
    /// the first tensor's dtype is returned (casting to it changes nothing).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="tensors"/> is null.</exception>
    /// <exception cref="ArgumentException">No non-null tensor was given.</exception>
    public static ScalarType Widest(params Tensor?[] tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ScalarType? widest = null;
        ScalarType? first = null;
        foreach (var tensor in tensors)
        {
            if (tensor is null)
            {
                continue;
            }

            var dtype = tensor.dtype;
            first ??= dtype;
            if (IsFloating(dtype))
            {
                widest = widest is { } current ? Wider(current, dtype) : dtype;
            }
        }

        return widest ?? first ?? throw new ArgumentException("At least one non-null tensor is required.", nameof(tensors));
    }

    /// <summary><c>is_floating_point</c> without a call into libtorch: TorchSharp 0.107 has no other floating dtype.</summary>
    internal static bool IsFloating(ScalarType dtype) =>
        dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    private static ScalarType Wider(ScalarType a, ScalarType b)
    {
        if (a == b)
        {
            return a;
        }

        var (rankA, rankB) = (Rank(a), Rank(b));
        if (rankA == rankB)
        {
            // Float16 vs BFloat16: same width, different trade-off; only fp32 holds both.
            return ScalarType.Float32;
        }

        return rankA > rankB ? a : b;
    }

    private static int Rank(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 or ScalarType.BFloat16 => 1,
        ScalarType.Float32 => 2,
        _ => 3,
    };
}
