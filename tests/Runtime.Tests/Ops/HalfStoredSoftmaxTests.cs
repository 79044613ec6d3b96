using System;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Runtime.Tests.Ops;

/// <summary>
/// <c>CheckedOps.Softmax</c>, the half-stored softmax the generated forward uses where every reader casts the softmax to
/// half: its output must be the fp32 softmax rounded to half (within one rounding step where libtorch's own half kernel
/// runs), and its gradient that of the fp32 softmax within the half dtype's rounding.
/// </summary>
public sealed class HalfStoredSoftmaxTests
{
    // [8, 4, 128, 256] has 2^20 values: split into slices; [2, 3, 5, 7] is one.
    public static TheoryData<long[], long, ScalarType> Cases => new()
    {
        { new long[] { 2, 3, 5, 7 }, -1, ScalarType.BFloat16 },
        { new long[] { 8, 4, 128, 256 }, -1, ScalarType.BFloat16 },
        { new long[] { 8, 4, 128, 256 }, 1, ScalarType.BFloat16 },
        { new long[] { 4, 4, 256, 300 }, -1, ScalarType.Float16 },
        { new long[] { 33 }, 0, ScalarType.BFloat16 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Output_is_the_fp32_softmax_rounded_and_the_gradient_is_the_fp32_softmax_gradient_within_half_rounding(long[] shape, long dim, ScalarType half)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(17);
        // Half scores with masked (-inf) entries, as an attention block feeds them; the first element of each row stays.
        var scores = (randn(shape, generator: generator) * 4).to(half);
        var mask = rand(shape, generator: generator) < 0.3;
        mask.select(dim, 0).fill_(false);
        scores = scores.masked_fill(mask, double.NegativeInfinity);
        var upstream = randn(shape, generator: generator).to(half);

        // What the generated forward did before: cast to fp32, softmax, cast to half for the reader.
        var before = scores.detach().requires_grad_();
        var expected = functional.softmax(before.to(ScalarType.Float32), dim).to(half);
        expected.backward([upstream]);

        var after = scores.detach().requires_grad_();
        var actual = CheckedOps.Softmax(after, dim, half);
        var u = half == ScalarType.BFloat16 ? 1.0 / 256 : 1.0 / 2048;
        actual.backward([upstream]);

        Assert.Equal(half, actual.dtype);
        // Bit-identical from this function's fp32 slices; within one rounding step (2u) where libtorch's half softmax
        // passed the check and runs instead (CPU bf16).
        var y = expected.detach().to(ScalarType.Float32);
        Assert.True((actual.to(ScalarType.Float32) - y).abs().le(y * (2 * u)).all().item<bool>());
        Assert.Equal(half, after.grad!.dtype);
        // The backward reads the half-rounded output y' = y(1 + e), |e| <= u (2^-8 for bf16, 2^-11 for fp16): with G the
        // row's largest upstream gradient, dx = y(g - sum(g y)) moves by at most about 3uGy, and each side is rounded to
        // half once more (uGy each): the bound the half readers' own gradients (a matmul's, from half operands) have.
        var g = upstream.to(ScalarType.Float32).abs().amax([dim], keepdim: true);
        var difference = (after.grad!.to(ScalarType.Float32) - before.grad!.to(ScalarType.Float32)).abs();
        var bound = g * (y * (8 * u) + Math.Pow(2, -20));
        Assert.True((difference <= bound).all().item<bool>(), $"largest difference over its bound {(difference / bound).max().item<float>()}");
        Assert.True(after.grad!.masked_select(mask).eq(0).all().item<bool>());
        Assert.False(after.grad!.isnan().any().item<bool>());
    }

    [Fact]
    public void An_fp32_input_stored_in_bf16_is_the_fp32_softmax_rounded_with_a_gradient_within_the_rounding()
    {
        // Input and storage dtypes differ: always this function's own fp32 slices, never libtorch's half softmax.
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var scores = randn([8, 4, 128, 256], generator: generator) * 4;
        var upstream = randn([8, 4, 128, 256], generator: generator).to(ScalarType.BFloat16);
        var before = scores.clone().requires_grad_();
        var after = scores.clone().requires_grad_();

        var expected = functional.softmax(before, -1).to(ScalarType.BFloat16);
        expected.backward([upstream]);
        var actual = CheckedOps.Softmax(after, -1, ScalarType.BFloat16);
        actual.backward([upstream]);

        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(actual));
        Assert.Equal(ScalarType.Float32, after.grad!.dtype);
        var y = expected.detach().to(ScalarType.Float32);
        var g = upstream.to(ScalarType.Float32).abs().amax([-1], keepdim: true);
        var difference = (after.grad! - before.grad!).abs();
        Assert.True((difference <= g * (y * (8.0 / 256) + Math.Pow(2, -20))).all().item<bool>());
    }

    [Fact]
    public void An_fp32_input_stored_in_fp32_is_the_fp32_softmax_with_its_gradient()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var scores = randn([6, 10], generator: generator);
        var upstream = randn([6, 10], generator: generator);
        var before = scores.clone().requires_grad_();
        var after = scores.clone().requires_grad_();

        functional.softmax(before, 1).backward([upstream]);
        var actual = CheckedOps.Softmax(after, 1, ScalarType.Float32);
        actual.backward([upstream]);

        Assert.Equal(Snapshots.Values(functional.softmax(scores, 1)), Snapshots.Values(actual));
        Assert.True(after.grad!.allclose(before.grad!, rtol: 1e-5, atol: 1e-7));
    }

    [Fact]
    public void Without_autograd_it_computes_the_same_values()
    {
        using var scope = NewDisposeScope();
        var scores = randn([4, 9], generator: new Generator(5)).to(ScalarType.BFloat16);
        using var noGrad = no_grad();
        var actual = CheckedOps.Softmax(scores, -1, ScalarType.BFloat16);
        var y = functional.softmax(scores.to(ScalarType.Float32), -1).to(ScalarType.Float32);
        Assert.True((actual.to(ScalarType.Float32) - y).abs().le(y * (2.0 / 256)).all().item<bool>());
        Assert.False(actual.requires_grad);
    }

    [Fact]
    public void Invalid_arguments_throw_managed_errors()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentNullException>(() => CheckedOps.Softmax(null!, -1, ScalarType.BFloat16));
        Assert.Throws<ArgumentException>(() => CheckedOps.Softmax(ones(3, dtype: ScalarType.Int64), -1, ScalarType.BFloat16));
        Assert.Throws<ArgumentException>(() => CheckedOps.Softmax(ones(3), -1, ScalarType.Int32));
        Assert.Throws<ArgumentOutOfRangeException>(() => CheckedOps.Softmax(ones(3, 4), 2, ScalarType.BFloat16));
    }
}
