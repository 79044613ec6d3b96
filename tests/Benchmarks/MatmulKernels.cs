using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks;

/// <summary>
/// Where a mixed step's time goes on CPU: libtorch's matmul for the MLP's first layer (256x1024 by
/// 1024x4096) per dtype and per operand layout. A linear layer's forward multiplies by a transposed
/// weight (NT), its backward needs the plain (NN, input gradient) and transposed-left (TN, weight
/// gradient) products. The last case is the NN product through <see cref="CheckedOps.Matmul"/>, which
/// PrecisionDsl's generated code uses: widened (fp32 kernel, bf16 operands and result) on a CPU without
/// native bf16, so its bf16 row is what routing around the slow kernel buys.
/// </summary>
[Config(typeof(ShortJobConfig))]
public class MatmulKernels
{
    private Tensor left = null!, right = null!, rightTransposed = null!, leftTransposed = null!;

    [Params(ScalarType.Float32, ScalarType.BFloat16)]
    public ScalarType Dtype { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(1);
        left = randn(256, 1024).to(Dtype);
        right = randn(1024, 4096).to(Dtype);
        rightTransposed = randn(4096, 1024).to(Dtype);
        leftTransposed = randn(1024, 256).to(Dtype);
    }

    [Benchmark(Description = "NN: a @ b (input gradient)")]
    public long Plain()
    {
        using var product = left.mm(right);
        return product.shape[0];
    }

    [Benchmark(Description = "NT: a @ b.T (forward)")]
    public long RightTransposed()
    {
        using var product = left.mm(rightTransposed.t());
        return product.shape[0];
    }

    [Benchmark(Description = "TN: a.T @ b (weight gradient)")]
    public long LeftTransposed()
    {
        using var product = leftTransposed.t().mm(right);
        return product.shape[0];
    }

    [Benchmark(Description = "NN through CheckedOps.Matmul")]
    public long PlainThroughRuntime()
    {
        using var product = CheckedOps.Matmul(left, right);
        return product.shape[0];
    }
}
