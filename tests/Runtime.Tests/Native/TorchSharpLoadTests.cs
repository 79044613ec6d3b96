using System;
using System.IO;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Native;

public sealed class TorchSharpLoadTests
{
    [Fact]
    public void Bf16_linear_forward_and_backward_match_fp32_within_bf16_tolerance()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator().manual_seed(1234);
        var x = randn(new long[] { 32, 64 }, generator: generator);
        var w = randn(new long[] { 48, 64 }, generator: generator) * 0.1;
        var b = randn(new long[] { 48 }, generator: generator) * 0.1;
        var upstream = randn(new long[] { 32, 48 }, generator: generator);

        var (y32, gw32, gx32) = LinearForwardBackward(x, w, b, upstream, ScalarType.Float32);
        var (y16, gw16, gx16) = LinearForwardBackward(x, w, b, upstream, ScalarType.BFloat16);

        Assert.Equal(ScalarType.BFloat16, y16.dtype);
        Assert.Equal(ScalarType.BFloat16, gw16.dtype);
        // bf16 keeps 8 significant bits (unit roundoff 2^-8 ~ 0.0039); over 64-term dot products with
        // fp32 accumulation the error stays within a few percent of the values' scale.
        AssertClose(y32, y16, relative: 0.02);
        AssertClose(gw32, gw16, relative: 0.02);
        AssertClose(gx32, gx16, relative: 0.02);
        // And bf16 is genuinely lower precision: the results are not bit-identical to fp32.
        Assert.True((y32 - y16.to(ScalarType.Float32)).abs().max().item<float>() > 0);
    }

    [Fact]
    public void Loading_natives_never_falls_back_to_copying_them_into_a_cpu_folder()
    {
        using var t = ones(2, 2).matmul(ones(2, 2));
        Assert.Equal(2f, t[0, 0].item<float>());
        Assert.False(Directory.Exists(Path.Combine(AppContext.BaseDirectory, "cpu")),
            "TorchSharp copied its natives into bin/.../cpu/: loading libLibTorchSharp.so from the output failed");
    }

    private static (Tensor Y, Tensor GradW, Tensor GradX) LinearForwardBackward(Tensor x, Tensor w, Tensor b, Tensor upstream, ScalarType dtype)
    {
        var xs = x.to(dtype).detach().requires_grad_(true);
        var ws = w.to(dtype).detach().requires_grad_(true);
        var y = nn.functional.linear(xs, ws, b.to(dtype));
        y.backward(new[] { upstream.to(dtype) });
        return (y.detach(), ws.grad!, xs.grad!);
    }

    private static void AssertClose(Tensor expected, Tensor actual, double relative)
    {
        var e = expected.to(ScalarType.Float32);
        var a = actual.to(ScalarType.Float32);
        var scale = e.abs().max().item<float>();
        var worst = (e - a).abs().max().item<float>();
        Assert.True(worst <= relative * scale, $"max |difference| {worst} exceeds {relative} x max |expected| {scale}");
    }
}
