using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PrecisionDsl;

/// <summary>
/// The real probes: small random operands from a local generator (the global RNG is never touched), each
/// case run forward and backward so the output, the input gradient and the weight gradient are checked.
/// Convolutions include few channels (3 -> 4), a depthwise case and out-channel counts that are not
/// multiples of 16, where AVX512_BF16 builds of libtorch have been measured wrong. The last case of each
/// family is the timed one: big enough to time a kernel rather than call overhead, small enough that one
/// run of a reference-loop half kernel (up to ~200x slower than fp32) costs milliseconds.
/// </summary>
/// <remarks>
/// Transposed convolutions are one family per dimension, like convolutions: libtorch runs each spatial
/// rank through its own kernels, so a fault in one rank says nothing about another.
/// </remarks>
internal static class KernelProbes
{
    private const ulong Seed = 20261129;

    internal static IReadOnlyList<KernelProbe> For(ScalarType half)
    {
        var generator = new Generator(Seed, CPU);
        ProbeCase Case(string name, Func<Tensor[], Tensor> op, params long[][] shapes) => Probe(name, half, generator, op, shapes);
        long[] S(params long[] shape) => shape;

        return new KernelProbe[]
        {
            new(KernelFamily.Linear, new[]
            {
                Case("5x7 -> 3", o => F.linear(o[0], o[1], o[2]), S(5, 7), S(3, 7), S(3)),
                Case("64x128 -> 96", o => F.linear(o[0], o[1], o[2]), S(64, 128), S(96, 128), S(96)),
            }),
            new(KernelFamily.Batched, new[]
            {
                Case("3 x 5x7 . 7x4", o => o[0].bmm(o[1]), S(3, 5, 7), S(3, 7, 4)),
                Case("8 x 32x64 . 64x48", o => o[0].bmm(o[1]), S(8, 32, 64), S(8, 64, 48)),
            }),
            new(KernelFamily.Conv1d, new[]
            {
                Case("3 -> 4, stride 2", o => F.conv1d(o[0], o[1], o[2], stride: 2, padding: 1), S(2, 3, 9), S(4, 3, 3), S(4)),
                Case("depthwise 8", o => F.conv1d(o[0], o[1], o[2], groups: 8), S(2, 8, 9), S(8, 1, 3), S(8)),
                Case("32 -> 40", o => F.conv1d(o[0], o[1], o[2], padding: 1), S(4, 32, 64), S(40, 32, 3), S(40)),
            }),
            new(KernelFamily.Conv2d, new[]
            {
                Case("3 -> 4, stride 2", o => F.conv2d(o[0], o[1], o[2], strides: new long[] { 2, 2 }, padding: new long[] { 1, 1 }), S(2, 3, 8, 8), S(4, 3, 3, 3), S(4)),
                Case("depthwise 8", o => F.conv2d(o[0], o[1], o[2], groups: 8), S(2, 8, 6, 6), S(8, 1, 3, 3), S(8)),
                Case("16 -> 24", o => F.conv2d(o[0], o[1], o[2], padding: new long[] { 1, 1 }), S(2, 16, 16, 16), S(24, 16, 3, 3), S(24)),
            }),
            new(KernelFamily.Conv3d, new[]
            {
                Case("3 -> 4, stride 2", o => F.conv3d(o[0], o[1], o[2], strides: new long[] { 2, 2, 2 }, padding: new long[] { 1, 1, 1 }), S(1, 3, 5, 5, 5), S(4, 3, 3, 3, 3), S(4)),
                Case("depthwise 8", o => F.conv3d(o[0], o[1], o[2], groups: 8), S(1, 8, 4, 4, 4), S(8, 1, 3, 3, 3), S(8)),
                Case("8 -> 12", o => F.conv3d(o[0], o[1], o[2], padding: new long[] { 1, 1, 1 }), S(2, 8, 8, 8, 8), S(12, 8, 3, 3, 3), S(12)),
            }),
            new(KernelFamily.ConvTranspose1d, new[]
            {
                Case("3 -> 4, stride 2", o => F.conv_transpose1d(o[0], o[1], o[2], stride: 2), S(2, 3, 9), S(3, 4, 3), S(4)),
                Case("depthwise 8", o => F.conv_transpose1d(o[0], o[1], o[2], groups: 8), S(2, 8, 9), S(8, 1, 3), S(8)),
                Case("32 -> 40", o => F.conv_transpose1d(o[0], o[1], o[2], padding: 1), S(4, 32, 64), S(32, 40, 3), S(40)),
            }),
            new(KernelFamily.ConvTranspose2d, new[]
            {
                Case("3 -> 4, stride 2", o => F.conv_transpose2d(o[0], o[1], o[2], strides: new long[] { 2, 2 }), S(2, 3, 6, 6), S(3, 4, 3, 3), S(4)),
                Case("depthwise 8", o => F.conv_transpose2d(o[0], o[1], o[2], groups: 8), S(2, 8, 6, 6), S(8, 1, 3, 3), S(8)),
                Case("16 -> 24", o => F.conv_transpose2d(o[0], o[1], o[2], padding: new long[] { 1, 1 }), S(2, 16, 16, 16), S(16, 24, 3, 3), S(24)),
            }),
            new(KernelFamily.ConvTranspose3d, new[]
            {
                Case("3 -> 4, stride 2", o => F.conv_transpose3d(o[0], o[1], o[2], strides: new long[] { 2, 2, 2 }), S(1, 3, 4, 4, 4), S(3, 4, 3, 3, 3), S(4)),
                Case("depthwise 8", o => F.conv_transpose3d(o[0], o[1], o[2], groups: 8), S(1, 8, 4, 4, 4), S(8, 1, 3, 3, 3), S(8)),
                Case("8 -> 12", o => F.conv_transpose3d(o[0], o[1], o[2], padding: new long[] { 1, 1, 1 }), S(2, 8, 8, 8, 8), S(8, 12, 3, 3, 3), S(12)),
            }),
        };
    }

    /// <summary>
    /// A case on half operands: natively, <paramref name="op"/> on them; widened, on their fp32 copies
    /// with the output rounded to half (what <see cref="CheckedOps"/> and widened layers run). Both
    /// back-propagate the same half output gradient and return the output and the operands' gradients.
    /// </summary>
    internal static ProbeCase Probe(string name, ScalarType half, Generator generator, Func<Tensor[], Tensor> op, long[][] shapes)
    {
        // The probes test CPU kernels: on the CPU whatever the default device.
        var operands = shapes.Select(shape => randn(shape, generator: generator, device: CPU).to(half)).ToArray();
        long[] outputShape;
        using (no_grad())
        {
            outputShape = op(operands.Select(o => o.to(ScalarType.Float32)).ToArray()).shape;
        }

        var outputGradient = randn(outputShape, generator: generator, device: CPU).to(half);

        Tensor[] Run(bool widened)
        {
            var leaves = operands.Select(o => o.detach().requires_grad_()).ToArray();
            var output = widened ? op(leaves.Select(l => l.to(ScalarType.Float32)).ToArray()).to(half) : op(leaves);
            output.backward(new[] { outputGradient });
            return leaves.Select(l => l.grad!).Prepend(output.detach()).ToArray();
        }

        return new ProbeCase(name, () => Run(widened: false), () => Run(widened: true));
    }
}
