using System;
using PrecisionDsl.Generator.Analyzers;
using Xunit;

namespace PrecisionDsl.Analyzers.Tests.Numerics;

public class HalfFormatTests
{
    [Fact]
    public void Float16_rounding_matches_System_Half_across_the_range()
    {
        var random = new Random(20261128);
        for (var i = 0; i < 200_000; i++)
        {
            // Log-uniform magnitudes from 1e-10 to 1e6 cover flush-to-zero, subnormals, normals and overflow.
            var value = Math.Pow(10, -10 + (16 * random.NextDouble())) * (random.Next(2) == 0 ? -1 : 1);
            Assert.Equal((double)(Half)value, HalfFormat.Float16.Round(value));
        }
    }

    [Theory]
    [InlineData(65504.0, 65504.0)]
    [InlineData(65519.0, 65504.0)]
    [InlineData(65520.0, double.PositiveInfinity)] // the tie rounds to even: 2^16, which is past max
    [InlineData(-1e9, double.NegativeInfinity)]
    [InlineData(1e-8, 0.0)]
    [InlineData(2.9802322387695312e-8, 0.0)] // exactly half the smallest subnormal: ties to even (zero)
    [InlineData(4e-8, 5.9604644775390625e-8)]
    [InlineData(1e-5, 1.0013580322265625e-05)] // subnormal: kept, with fewer significant bits
    public void Float16_boundaries(double value, double expected) =>
        Assert.Equal(expected, HalfFormat.Float16.Round(value));

    [Fact]
    public void BFloat16_rounding_matches_truncating_fp32_bits_with_ties_to_even()
    {
        var random = new Random(7);
        for (var i = 0; i < 200_000; i++)
        {
            var single = BitConverter.Int32BitsToSingle(random.Next() & 0x7F7FFFFF); // finite positive fp32
            Assert.Equal(BFloat16Reference(single), HalfFormat.BFloat16.Round(single));
        }
    }

    [Theory]
    [InlineData(65505.0, true)]
    [InlineData(-1e9, true)]
    [InlineData(1e-8, true)]
    [InlineData(65504.0, false)]
    [InlineData(-1e4, false)]
    [InlineData(6e-8, false)]
    [InlineData(1e-5, false)]
    [InlineData(0.0, false)]
    public void Float16_cannot_hold_what_the_spec_names(double value, bool expected) =>
        Assert.Equal(expected, HalfFormat.Float16.CannotHold(value));

    [Theory]
    [InlineData(-1e9, false)]
    [InlineData(1e-8, false)]
    [InlineData(1e39, true)]
    [InlineData(1e-41, true)]
    public void BFloat16_has_fp32_range(double value, bool expected) =>
        Assert.Equal(expected, HalfFormat.BFloat16.CannotHold(value));

    [Theory]
    [InlineData(double.NegativeInfinity, "-inf")]
    [InlineData(0.0, "0")]
    [InlineData(5.9604644775390625e-8, "5.96e-8")]
    [InlineData(65504.0, "65504")]
    [InlineData(-3.3895313892515355e38, "-3.39e38")]
    [InlineData(0.5, "0.5")]
    public void Display_is_short(double value, string expected) => Assert.Equal(expected, HalfFormat.Display(value));

    private static double BFloat16Reference(float value)
    {
        var bits = BitConverter.SingleToInt32Bits(value);
        var roundingBias = 0x7FFF + ((bits >> 16) & 1);
        var rounded = (int)(((uint)bits + (uint)roundingBias) & 0xFFFF0000u);
        var result = (double)BitConverter.Int32BitsToSingle(rounded);
        return double.IsInfinity(result) || result > HalfFormat.BFloat16.MaxValue ? double.PositiveInfinity : result;
    }
}
