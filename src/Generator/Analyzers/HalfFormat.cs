using System;
using System.Globalization;

namespace PrecisionDsl.Generator.Analyzers;

/// <summary>
/// A binary floating-point format narrower than fp32, and what a constant becomes in it (round to nearest,
/// ties to even, as a cast to that dtype does). Used by PDSL005 to show the value a literal turns into.
/// </summary>
internal sealed class HalfFormat
{
    /// <summary>IEEE binary16: max 65504, smallest normal 2^-14 = 6.1e-5, smallest subnormal 2^-24 = 5.96e-8.</summary>
    public static readonly HalfFormat Float16 = new("float16", significandBits: 11, minExponent: -14, maxExponent: 15, safeMaxText: "65504", safeMinNormalText: "6.103515625e-5");

    /// <summary>bfloat16: fp32's exponent range (max 3.39e38) with an 8-bit significand (~3 significant digits).</summary>
    public static readonly HalfFormat BFloat16 = new("bfloat16", significandBits: 8, minExponent: -126, maxExponent: 127, safeMaxText: "3.38e38", safeMinNormalText: "1.2e-38");

    private readonly int significandBits;
    private readonly int minExponent;

    private HalfFormat(string name, int significandBits, int minExponent, int maxExponent, string safeMaxText, string safeMinNormalText)
    {
        Name = name;
        this.significandBits = significandBits;
        this.minExponent = minExponent;
        MaxValue = (2.0 - Math.Pow(2, 1 - significandBits)) * Math.Pow(2, maxExponent);
        SmallestSubnormal = Math.Pow(2, minExponent - (significandBits - 1));
        SafeMaxText = safeMaxText;
        SafeMinNormalText = safeMinNormalText;
    }

    /// <summary>The dtype's name as TorchSharp spells it.</summary>
    public string Name { get; }

    /// <summary>Largest finite value (65504 for float16).</summary>
    public double MaxValue { get; }

    /// <summary>Smallest positive value (5.96e-8 for float16).</summary>
    public double SmallestSubnormal { get; }

    /// <summary>C# text of a magnitude the format holds exactly, close to <see cref="MaxValue"/>.</summary>
    public string SafeMaxText { get; }

    /// <summary>C# text of the smallest normal magnitude (full precision below it is lost).</summary>
    public string SafeMinNormalText { get; }

    /// <summary>Whether the format cannot hold <paramref name="value"/>: it overflows or flushes to zero (SPEC PDSL005).</summary>
    public bool CannotHold(double value)
    {
        var magnitude = Math.Abs(value);
        return !double.IsNaN(value) && !double.IsInfinity(value)
            && (magnitude > MaxValue || (magnitude != 0 && magnitude < SmallestSubnormal));
    }

    public bool Overflows(double value) => Math.Abs(value) > MaxValue;

    /// <summary>The value a cast to this format produces.</summary>
    public double Round(double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value == 0)
        {
            return value;
        }

        var magnitude = Math.Abs(value);
        var exponent = Math.Max(BinaryExponent(magnitude), minExponent);
        var quantum = Math.Pow(2, exponent - (significandBits - 1));
        var rounded = Math.Round(magnitude / quantum, MidpointRounding.ToEven) * quantum;
        if (rounded > MaxValue)
        {
            rounded = double.PositiveInfinity;
        }

        return value < 0 ? -rounded : rounded;
    }

    /// <summary>Short display of a rounded value: "-inf", "0", "5.96e-8", "65504", "1e-5".</summary>
    public static string Display(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-inf";
        }

        if (Math.Abs(value) < 1e6 && Math.Floor(value) == value)
        {
            return value.ToString("F0", CultureInfo.InvariantCulture);
        }

        var text = value.ToString("G3", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E');
        if (e < 0)
        {
            return text;
        }

        var exponent = int.Parse(text.Substring(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return text.Substring(0, e) + "e" + exponent.ToString(CultureInfo.InvariantCulture);
    }

    // floor(log2(magnitude)) read from the double's exponent bits (Math.Log rounds near powers of two).
    private static int BinaryExponent(double magnitude)
    {
        var bits = BitConverter.DoubleToInt64Bits(magnitude);
        var biased = (int)((bits >> 52) & 0x7FF);
        return biased == 0 ? -1075 : biased - 1023;
    }
}
