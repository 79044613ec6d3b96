using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// Softmax computed in fp32 whose output — the one tensor autograd keeps for its backward — is stored in a half
/// dtype. Used by the generated forward where every reader of the softmax casts it to that half dtype anyway
/// (op policy, <c>OpPolicy.HalfStoredOps</c>): the values those readers see are the same, and neither an fp32 output
/// nor an fp32 copy of the input outlives the op. Where libtorch's own half softmax is verified to compute that, to
/// one rounding step (<see cref="NativeKernelVerified"/>), it is used instead. Forward and backward work through at most <see cref="MaxSlices"/>
/// slices, so their fp32 temporaries are slice-sized, never input-sized.
/// </summary>
internal sealed class HalfStoredSoftmax : autograd.SingleTensorFunction<HalfStoredSoftmax>
{
    /// <summary>Fewest values per slice (256 KB in fp32): smaller slices would cost more in kernel calls than they save.</summary>
    private const long MinSliceElements = 1 << 16;

    /// <summary>Most slices per call: the fp32 temporaries (two or three at a time) stay near 1/16 of the input each.</summary>
    private const long MaxSlices = 16;

    private const string DimKey = "dim", InputDtypeKey = "dtype";

    public override string Name => nameof(HalfStoredSoftmax);

    /// <summary><c>softmax(input.to(fp32), dim).to(storage)</c>, with a backward from the stored output.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dim"/> is not a dimension of <paramref name="input"/>.</exception>
    public static Tensor Apply(Tensor input, long dim, ScalarType storage)
    {
        var rank = Math.Max(input.dim(), 1);
        if (dim < -rank || dim >= rank)
        {
            throw new ArgumentOutOfRangeException(nameof(dim), dim, $"softmax: dimension out of range for a tensor of {input.dim()} dimensions.");
        }

        return input.dtype == storage && (storage == ScalarType.Float32 || NativeKernelVerified(storage, input.device))
            ? input.softmax(dim)
            : apply(input, dim < 0 ? dim + rank : dim, storage);
    }

    private static readonly ConcurrentDictionary<(ScalarType, DeviceType, int), bool> Verified = new();

    /// <summary>
    /// Whether libtorch's own softmax in <paramref name="dtype"/> computes in fp32 on this device: outputs within one
    /// rounding step of the fp32 softmax rounded to <paramref name="dtype"/> (bit-identical where the row length fills
    /// the vector registers), gradients within the half rounding bound of the fp32 softmax's (libtorch's CPU bf16
    /// kernels accumulate in fp32; its CPU fp16 kernel does not). Then it is
    /// used: the same values, and autograd frees its saved output and its gradient as it does for any built-in op,
    /// where this function's live until the graph and the scope around backward are freed. Checked once per dtype
    /// and device.
    /// </summary>
    private static bool NativeKernelVerified(ScalarType dtype, Device device) =>
        Verified.GetOrAdd((dtype, device.type, device.index), _ =>
        {
            try
            {
                return SelfTest(dtype, device);
            }
            catch (ExternalException)
            {
                return false; // e.g. first called in inference mode, where the check's backward cannot run: the autograd function is always right
            }
        });

    private static bool SelfTest(ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var generator = new Generator(20261130);
        var u = dtype == ScalarType.BFloat16 ? 1.0 / 256 : 1.0 / 2048;
        // Odd sizes (vector tails), masked entries, the last and an inner dimension.
        foreach (var dim in new long[] { -1, 1 })
        {
            var shape = new long[] { 3, 37, 5, 67 };
            // Drawn on the CPU, where the generator lives, whatever the default device.
            var scores = (randn(shape, generator: generator, device: CPU) * 4).masked_fill(rand(shape, generator: generator, device: CPU) < 0.2, double.NegativeInfinity);
            scores.select(dim, 0).fill_(0);
            var half = scores.to(dtype).to(device);
            var upstream = randn(shape, generator: generator, device: CPU).to(dtype).to(device);

            var exact = half.detach().requires_grad_();
            var expected = exact.to(ScalarType.Float32).softmax(dim).to(dtype);
            expected.backward([upstream]);
            var native = half.detach().requires_grad_();
            var actual = native.softmax(dim);
            actual.backward([upstream]);

            var y = expected.detach().to(ScalarType.Float32);
            var g = upstream.to(ScalarType.Float32).abs().amax([dim], keepdim: true);
            var bound = g * (y * (8 * u) + Math.Pow(2, -20));
            // Within one rounding step of the half dtype (2u relative): on rows whose length does not fill the vector
            // registers libtorch's bf16 kernel rounds some values to the neighbouring bf16 value.
            var step = (actual.to(ScalarType.Float32) - y).abs().le(y.abs() * (2 * u)).all().item<bool>();
            if (!step || !(native.grad!.to(ScalarType.Float32) - exact.grad!.to(ScalarType.Float32)).abs().le(bound).all().item<bool>())
            {
                return false;
            }
        }

        return true;
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var input = (Tensor)vars[0];
        var dim = (long)vars[1];
        var output = empty(input.shape, dtype: (ScalarType)vars[2], device: input.device);
        foreach (var (along, start, length) in Slices(input.shape, dim))
        {
            using var scope = NewDisposeScope();
            var wide = Slice(input, along, start, length).to(ScalarType.Float32);
            var normalized = wide.softmax(dim);
            wide.Dispose();
            Slice(output, along, start, length).copy_(normalized);
        }

        // The backward reads only the stored output; a gradient that never arrives is passed through as undefined
        // (the zeros TorchSharp would make come from an output-sized buffer freed with the statement's temporaries).
        ctx.save_for_backward([output]);
        ctx.save_data(DimKey, dim);
        ctx.save_data(InputDtypeKey, input.dtype);
        ctx.set_materialize_grads(false);
        return output;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        if (grad_output is null || grad_output.IsInvalid)
        {
            return [null!, null!, null!];
        }

        var saved = ctx.get_saved_variables();
        using var output = saved[0];
        var dim = (long)ctx.get_data(DimKey);
        var grad = empty(output.shape, dtype: (ScalarType)ctx.get_data(InputDtypeKey), device: output.device);
        foreach (var (along, start, length) in Slices(output.shape, dim))
        {
            using var scope = NewDisposeScope();
            // softmax's own backward, in fp32: dx = y * (dy - sum(dy * y)), in place on the slice's fp32 copies.
            var y = Slice(output, along, start, length).to(ScalarType.Float32, copy: true);
            var dy = Slice(grad_output, along, start, length).to(ScalarType.Float32, copy: true);
            var product = dy * y;
            var sum = product.sum(dim, keepdim: true);
            product.Dispose();
            Slice(grad, along, start, length).copy_(dy.sub_(sum).mul_(y));
        }

        // The engine holds its own reference to the incoming gradient; ours would keep it alive to the caller's scope's end.
        grad_output.Dispose();
        return [grad, null!, null!]; // one per argument of apply: the input, then dim and storage (no gradients)
    }

    /// <summary>A view of <paramref name="tensor"/>'s slice (the tensor itself when <paramref name="along"/> is -1).</summary>
    private static Tensor Slice(Tensor tensor, long along, long start, long length) =>
        along < 0 ? tensor : tensor.narrow(along, start, length);

    /// <summary>
    /// Slices along the longest dimension other than <paramref name="dim"/>, each of about 1/<see cref="MaxSlices"/> of the
    /// values (at least <see cref="MinSliceElements"/>) where the shape allows: softmax along <paramref name="dim"/> reads
    /// nothing across them.
    /// </summary>
    private static IEnumerable<(long Along, long Start, long Length)> Slices(long[] shape, long dim)
    {
        long along = -1;
        for (var d = 0; d < shape.Length; d++)
        {
            if (d != dim && (along < 0 || shape[d] > shape[along]))
            {
                along = d;
            }
        }

        long total = 1;
        foreach (var size in shape)
        {
            total *= size;
        }

        var sliceElements = Math.Max(MinSliceElements, (total + MaxSlices - 1) / MaxSlices);
        if (along < 0 || total <= sliceElements)
        {
            yield return (-1, 0, 0);
            yield break;
        }

        var perIndex = total / shape[along];
        var length = Math.Max(1, sliceElements / Math.Max(perIndex, 1));
        for (long start = 0; start < shape[along]; start += length)
        {
            yield return (along, start, Math.Min(length, shape[along] - start));
        }
    }
}
