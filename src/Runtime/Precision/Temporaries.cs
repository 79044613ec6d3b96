using System;
using System.Diagnostics.CodeAnalysis;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// Frees the generated forward's temporaries where PyTorch would, at their last use, instead of when the
/// forward's dispose scope ends. The generator decides when (a liveness pass over the <c>[Forward]</c> body);
/// these helpers guard against the one thing it cannot see: an op that returns its input object itself
/// (<c>Precision.Cast</c> to the dtype a tensor already has, in-place ops, an in-place activation layer).
/// Disposing a tensor handle releases only that handle: autograd keeps what backward needs, and a view keeps
/// its storage alive.
/// </summary>
public static class Temporaries
{
    /// <summary>
    /// The value of a statement computed inside its own dispose scope: moved to the enclosing scope when the
    /// statement created it (the scope's end then frees every other temporary of the statement, casts included);
    /// left where it is when it is an older tensor returned as is. With <paramref name="replaced"/> (the value the
    /// assigned local held before, used nowhere after), that value is freed unless it is the result itself.
    /// </summary>
    [return: NotNullIfNotNull(nameof(result))]
    public static Tensor? Keep(DisposeScope statementScope, Tensor? result, Tensor? replaced = null)
    {
        if (result is not null && statementScope.Contains(result))
        {
            statementScope.MoveToOuter(result);
        }

        return Replace(result, replaced);
    }

    /// <summary>A reassignment's new value; the local's previous value, used nowhere after, is freed unless it is the new value itself.</summary>
    [return: NotNullIfNotNull(nameof(result))]
    public static Tensor? Replace(Tensor? result, Tensor? replaced)
    {
        if (replaced is not null && !replaced.IsInvalid && !ReferenceEquals(replaced, result))
        {
            replaced.Dispose();
        }

        return result;
    }

    /// <summary>
    /// Frees locals at their last use. They may share one object (a layer may return its input): each distinct
    /// object is freed once; nulls and tensors disposed already are skipped.
    /// </summary>
    public static void Release(params Tensor?[] tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        for (var i = 0; i < tensors.Length; i++)
        {
            var tensor = tensors[i];
            if (tensor is not null && !tensor.IsInvalid && !SeenBefore(tensors, i))
            {
                tensor.Dispose();
            }
        }
    }

    // By reference: Tensor's own equality members compare values.
    private static bool SeenBefore(Tensor?[] tensors, int index)
    {
        for (var j = 0; j < index; j++)
        {
            if (ReferenceEquals(tensors[j], tensors[index]))
            {
                return true;
            }
        }

        return false;
    }
}
