using System;
using PrecisionDsl.Benchmarks.Anchors;
using Xunit;

namespace PrecisionDsl.Benchmarks.Tests;

public class AnchorOptionsTests
{
    [Theory]
    [InlineData(new[] { "--sizes", "large" }, "--sizes")]
    [InlineData(new[] { "--configs", "0,7" }, "--configs")]
    [InlineData(new[] { "--iters", "0" }, "--iters")]
    [InlineData(new[] { "--budget-s", "soon" }, "--budget-s")]
    [InlineData(new[] { "--size", "huge" }, "--size")]
    [InlineData(new[] { "--device", "tpu" }, "--device")]
    [InlineData(new[] { "--warmup" }, "--warmup")]
    public void A_bad_option_is_rejected_with_its_name(string[] args, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => AnchorOptions.Parse(args));
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void On_CPU_the_defaults_are_the_small_shapes_the_sample_size_and_bf16()
    {
        var options = AnchorOptions.Parse(["--device", "cpu"]);

        Assert.False(options.Large);
        Assert.Equal([0], options.Configs);
        Assert.Equal("bf16", options.MixedName);
        Assert.Null(options.Iterations);
        Assert.Equal(["--device", "cpu", "--size", "small"], options.ToArguments());
    }

    [Fact]
    public void Values_given_are_kept()
    {
        var options = AnchorOptions.Parse(["--device", "cpu", "--size", "large", "--configs", "1, 3", "--iters", "4", "--warmup", "2", "--budget-s", "9.5", "--models", "mlp,L6"]);

        Assert.True(options.Large);
        Assert.Equal([1, 3], options.Configs);
        Assert.Equal((4, 2, 9.5), (options.Iterations!.Value, options.Warmup!.Value, options.BudgetSeconds));
        Assert.Equal(["mlp", "L6"], options.Models);
    }
}
