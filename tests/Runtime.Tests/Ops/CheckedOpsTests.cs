using System;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Ops;

public sealed class CheckedOpsTests
{
    [Theory]
    [InlineData(new long[] { 3, 4 }, new long[] { 4, 5 }, new long[] { 3, 5 })]
    [InlineData(new long[] { 4 }, new long[] { 4 }, new long[0])]
    [InlineData(new long[] { 4 }, new long[] { 4, 5 }, new long[] { 5 })]
    [InlineData(new long[] { 3, 4 }, new long[] { 4 }, new long[] { 3 })]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 4, 5 }, new long[] { 2, 3, 5 })]
    [InlineData(new long[] { 2, 1, 3, 4 }, new long[] { 7, 4, 5 }, new long[] { 2, 7, 3, 5 })]
    public void Valid_shapes_give_what_matmul_gives(long[] a, long[] b, long[] expected)
    {
        using var scope = NewDisposeScope();
        var left = randn(a);
        var right = randn(b);
        var result = CheckedOps.Matmul(left, right, "a", "b");
        Assert.Equal(expected, result.shape);
        Assert.True(result.allclose(left.matmul(right)));
    }

    [Theory]
    [InlineData(new long[] { 3, 4 }, new long[] { 5, 6 }, "the last dimension of 'q' (4) must equal the second-to-last dimension of 'k' (5)")]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 2, 5, 6 }, "the last dimension of 'q' (4) must equal the second-to-last dimension of 'k' (5)")]
    [InlineData(new long[] { 3, 4 }, new long[] { 5 }, "the last dimension of 'q' (4) must equal the length of 'k' (5)")]
    [InlineData(new long[] { 2, 3, 4 }, new long[] { 3, 4, 5 }, "batch dimensions [2] and [3] do not broadcast")]
    public void A_shape_mismatch_throws_a_managed_error_naming_operands_and_shapes(long[] a, long[] b, string why)
    {
        // Without the check, TorchSharp 0.107's native matmul terminates the test process.
        using var scope = NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => CheckedOps.Matmul(randn(a), randn(b), "q", "k"));
        Assert.Contains($"'q' has shape [{string.Join(", ", a)}]", error.Message);
        Assert.Contains($"'k' has shape [{string.Join(", ", b)}]", error.Message);
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public void Widened_half_matmul_gives_the_fp32_product_rounded_to_half_and_back_propagates_in_half()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened);
        var left = randn(2, 8, 16).to(ScalarType.BFloat16).requires_grad_();
        var right = randn(2, 16, 8).to(ScalarType.BFloat16).requires_grad_();

        var product = CheckedOps.Matmul(left, right, "q", "k");
        product.sum().backward();

        var expected = left.detach().to(ScalarType.Float32).matmul(right.detach().to(ScalarType.Float32)).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, product.dtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(product));
        Assert.Equal(ScalarType.BFloat16, left.grad!.dtype);
        // d(sum(L·R))/dL = 1·Rᵀ: each row of the gradient is R's row sums.
        var rowSums = right.detach().to(ScalarType.Float32).sum(-1).unsqueeze(1).expand(2, 8, 16);
        Assert.True(left.grad!.to(ScalarType.Float32).allclose(rowSums, rtol: 1e-2, atol: 1e-2));
    }

    [Fact]
    public void Native_half_matmul_is_torch_matmul()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Native);
        var left = randn(8, 16).to(ScalarType.BFloat16);
        var right = randn(16, 8).to(ScalarType.BFloat16);

        Assert.Equal(Snapshots.Values(left.matmul(right)), Snapshots.Values(CheckedOps.Matmul(left, right)));
    }

    [Theory]
    [InlineData("mm", new long[] { 3, 4 }, new long[] { 4, 5 }, null)]
    [InlineData("mm", new long[] { 3, 4 }, new long[] { 5, 6 }, "the second dimension of 'q' (4) must equal the first dimension of 'k' (5)")]
    [InlineData("mm", new long[] { 2, 3, 4 }, new long[] { 4, 5 }, "both operands must be matrices (2-D)")]
    [InlineData("bmm", new long[] { 2, 3, 4 }, new long[] { 2, 4, 5 }, null)]
    [InlineData("bmm", new long[] { 2, 3, 4 }, new long[] { 3, 4, 5 }, "the batch sizes of 'q' (2) and 'k' (3) differ")]
    [InlineData("bmm", new long[] { 2, 3, 4 }, new long[] { 2, 5, 5 }, "the last dimension of 'q' (4) must equal the second dimension of 'k' (5)")]
    [InlineData("bmm", new long[] { 3, 4 }, new long[] { 4, 5 }, "both operands must be batches of matrices (3-D)")]
    public void Mm_and_bmm_check_their_shapes_like_matmul(string op, long[] a, long[] b, string? why)
    {
        using var scope = NewDisposeScope();
        var (left, right) = (randn(a), randn(b));
        System.Func<Tensor> call = op == "mm" ? () => CheckedOps.Mm(left, right, "q", "k") : () => CheckedOps.Bmm(left, right, "q", "k");

        if (why is null)
        {
            var expected = op == "mm" ? left.mm(right) : left.bmm(right);
            Assert.Equal(Snapshots.Values(expected), Snapshots.Values(call()));
            return;
        }

        var error = Assert.Throws<ArgumentException>(call);
        Assert.Equal($"{op}: 'q' has shape [{string.Join(", ", a)}] and 'k' has shape [{string.Join(", ", b)}]: {why}. (Parameter 'right')", error.Message);
    }

    [Fact]
    public void Widened_half_bmm_gives_the_fp32_product_rounded_to_half()
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Widened);
        var left = randn(2, 8, 16).to(ScalarType.Float16);
        var right = randn(2, 16, 8).to(ScalarType.Float16);

        var product = CheckedOps.Bmm(left, right);

        var expected = left.to(ScalarType.Float32).bmm(right.to(ScalarType.Float32)).to(ScalarType.Float16);
        Assert.Equal(ScalarType.Float16, product.dtype);
        Assert.Equal(Snapshots.Values(expected), Snapshots.Values(product));
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Widened)]
    [InlineData(HalfMatmulKernel.Native)]
    public void Einsum_and_linear_give_torch_results_widened_or_native(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var (a, b) = (randn(2, 8, 16).to(ScalarType.BFloat16), randn(2, 16, 4).to(ScalarType.BFloat16));
        var (x, w, bias) = (randn(8, 16).to(ScalarType.BFloat16), randn(4, 16).to(ScalarType.BFloat16), randn(4).to(ScalarType.BFloat16));

        var product = CheckedOps.Einsum("bij,bjk->bik", a, b);
        var layer = CheckedOps.Linear(x, w, bias);
        var noBias = CheckedOps.Linear(x, w);

        static Tensor Wide(Tensor t) => t.to(ScalarType.Float32);
        var expectedProduct = kernel == HalfMatmulKernel.Widened ? einsum("bij,bjk->bik", Wide(a), Wide(b)).to(ScalarType.BFloat16) : einsum("bij,bjk->bik", a, b);
        var expectedLayer = kernel == HalfMatmulKernel.Widened ? nn.functional.linear(Wide(x), Wide(w), Wide(bias)).to(ScalarType.BFloat16) : nn.functional.linear(x, w, bias);
        var expectedNoBias = kernel == HalfMatmulKernel.Widened ? nn.functional.linear(Wide(x), Wide(w)).to(ScalarType.BFloat16) : nn.functional.linear(x, w);
        Assert.Equal(ScalarType.BFloat16, product.dtype);
        Assert.Equal(Snapshots.Values(expectedProduct), Snapshots.Values(product));
        Assert.Equal(Snapshots.Values(expectedLayer), Snapshots.Values(layer));
        Assert.Equal(Snapshots.Values(expectedNoBias), Snapshots.Values(noBias));
    }

    public static TheoryData<HalfMatmulKernel, string> ConvolutionCases()
    {
        var cases = new TheoryData<HalfMatmulKernel, string>();
        foreach (var kernel in new[] { HalfMatmulKernel.Auto, HalfMatmulKernel.Widened })
        {
            foreach (var op in Convolutions.Keys)
            {
                cases.Add(kernel, op);
            }
        }

        return cases;
    }

    /// <summary>Each routed convolution (checked op, the TorchSharp function) on 3 -> 4 channels, and its operand shapes.</summary>
    private static readonly System.Collections.Generic.Dictionary<string, (Func<Tensor, Tensor, Tensor, Tensor> Checked, Func<Tensor, Tensor, Tensor, Tensor> Torch, long[][] Shapes)> Convolutions = new()
    {
        ["conv1d"] = ((x, w, b) => CheckedOps.Conv1d(x, w, b, padding: 1), (x, w, b) => nn.functional.conv1d(x, w, b, padding: 1), [[2, 3, 9], [4, 3, 3], [4]]),
        ["conv2d"] = ((x, w, b) => CheckedOps.Conv2d(x, w, b, strides: [2, 2]), (x, w, b) => nn.functional.conv2d(x, w, b, strides: [2, 2]), [[2, 3, 8, 8], [4, 3, 3, 3], [4]]),
        ["conv3d"] = ((x, w, b) => CheckedOps.Conv3d(x, w, b, groups: 1), (x, w, b) => nn.functional.conv3d(x, w, b), [[1, 3, 5, 5, 5], [4, 3, 3, 3, 3], [4]]),
        ["conv_transpose1d"] = ((x, w, b) => CheckedOps.ConvTranspose1d(x, w, b, stride: 2), (x, w, b) => nn.functional.conv_transpose1d(x, w, b, stride: 2), [[2, 3, 9], [3, 4, 3], [4]]),
        ["conv_transpose2d"] = ((x, w, b) => CheckedOps.ConvTranspose2d(x, w, b, output_padding: [1, 1], strides: [2, 2]), (x, w, b) => nn.functional.conv_transpose2d(x, w, b, strides: [2, 2], output_padding: [1, 1]), [[2, 3, 6, 6], [3, 4, 3, 3], [4]]),
        ["conv_transpose3d"] = ((x, w, b) => CheckedOps.ConvTranspose3d(x, w, b, padding: [1, 1, 1]), (x, w, b) => nn.functional.conv_transpose3d(x, w, b, padding: [1, 1, 1]), [[1, 3, 4, 4, 4], [3, 4, 3, 3, 3], [4]]),
    };

    [Theory]
    [MemberData(nameof(ConvolutionCases))]
    public void Half_convolutions_give_the_fp32_results_of_the_half_rounded_operands(HalfMatmulKernel kernel, string op)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var (checkedOp, torchOp, shapes) = Convolutions[op];
        var half = shapes.Select(shape => randn(shape).to(ScalarType.BFloat16).requires_grad_()).ToArray();
        var wide = half.Select(h => h.detach().to(ScalarType.Float32).requires_grad_()).ToArray();
        var outputGradient = randn(torchOp(wide[0], wide[1], wide[2]).shape);

        var output = checkedOp(half[0], half[1], half[2]);
        output.backward([outputGradient.to(ScalarType.BFloat16)]);
        var expected = torchOp(wide[0], wide[1], wide[2]);
        expected.backward([outputGradient.to(ScalarType.BFloat16).to(ScalarType.Float32)]);

        Assert.Equal(ScalarType.BFloat16, output.dtype);
        if (kernel == HalfMatmulKernel.Widened)
        {
            Assert.Equal(Snapshots.Values(expected.to(ScalarType.BFloat16)), Snapshots.Values(output));
        }

        // Whichever kernel Auto picked, output and all gradients are the fp32 ones to bf16 rounding.
        foreach (var (actual, reference) in half.Select(h => h.grad!).Zip(wide.Select(w => w.grad!)).Prepend((output, expected)))
        {
            var error = (actual.to(ScalarType.Float32) - reference).norm().item<float>() / reference.norm().item<float>();
            Assert.True(error <= 2e-2, $"{op}: relative error {error}");
        }
    }

    [Fact]
    public void Einsum_and_linear_name_a_null_operand()
    {
        Assert.Equal("tensors", Assert.Throws<ArgumentNullException>(() => CheckedOps.Einsum("ij->ji", (Tensor)null!)).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentNullException>(() => CheckedOps.Linear(randn(2, 2), null!)).ParamName);
    }
}
