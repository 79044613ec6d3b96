using TinyGpt;
using Xunit;

namespace PrecisionDsl.Samples.Tests;

public sealed class SampleOptionsTests
{
    [Fact]
    public void No_arguments_give_the_documented_defaults()
    {
        var options = SampleOptions.Parse([]);

        Assert.Equal(SampleOptions.DefaultSteps, options.Steps);
        Assert.Null(options.Precision);
        Assert.Equal(DeviceChoice.Auto, options.Device);
        Assert.True(options.Compare);
        Assert.Equal("out/tinygpt", options.OutputFolder);
        Assert.Null(options.CheckpointFolder);
        Assert.False(options.Resume);
        Assert.Contains($"default {SampleOptions.DefaultSteps}", SampleOptions.Usage);
    }

    [Fact]
    public void Every_option_is_read()
    {
        var options = SampleOptions.Parse(["--steps", "12", "--precision", "BF16", "--device", "cpu", "--compare", "off", "--out", "x/y", "--seed", "7",
            "--checkpoint", "ck", "--checkpoint-every", "5", "--resume"]);

        Assert.Equal(new SampleOptions
        {
            Steps = 12, Precision = PrecisionChoice.Bf16, Device = DeviceChoice.Cpu, Compare = false, OutputFolder = "x/y", Seed = 7,
            CheckpointFolder = "ck", CheckpointEvery = 5, Resume = true,
        }, options);
        Assert.True(SampleOptions.Parse(["-h"]).ShowHelp);
    }

    [Theory]
    [InlineData(new[] { "--steps", "0" }, "--steps", "positive integer, got '0'")]
    [InlineData(new[] { "--steps", "-3" }, "--steps", "positive integer, got '-3'")]
    [InlineData(new[] { "--precision", "fp8" }, "--precision", "expects fp32|bf16|fp16, got 'fp8'")]
    [InlineData(new[] { "--precision", "1" }, "--precision", "got '1'")]
    [InlineData(new[] { "--compare", "yes" }, "--compare", "expects on or off")]
    [InlineData(new[] { "--out" }, "--out", "needs a value")]
    [InlineData(new[] { "--stepz", "5" }, "--stepz", "unknown option")]
    [InlineData(new[] { "--checkpoint-every", "0" }, "--checkpoint-every", "positive integer")]
    [InlineData(new[] { "--resume" }, "--resume", "needs --checkpoint")]
    public void A_bad_option_is_named_in_the_error(string[] args, string option, string why)
    {
        var error = Assert.Throws<OptionException>(() => SampleOptions.Parse(args));

        Assert.Equal(option, error.Option);
        Assert.Contains(why, error.Message);
    }
}
