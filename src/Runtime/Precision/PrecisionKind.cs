namespace PrecisionDsl;

/// <summary>The precision a layer is declared to run in; the device policy resolves it to a dtype.</summary>
public enum PrecisionKind
{
    /// <summary>IEEE single precision; the default and the precision of every master weight.</summary>
    Fp32,

    /// <summary>IEEE half (float16); mapped to bfloat16 on CPU by <see cref="PrecisionPolicy"/>.</summary>
    Fp16,

    /// <summary>bfloat16: fp32's range with 8 bits of mantissa.</summary>
    Bf16,
}
