namespace PrecisionDsl.Generator.Diagnostics;

/// <summary>
/// Keys of <see cref="Microsoft.CodeAnalysis.Diagnostic.Properties"/> the analyzers set for the code fixes,
/// so a fix applies exactly what the analyzer computed instead of re-deriving it.
/// </summary>
public static class DiagnosticProperties
{
    /// <summary>PDSL011: present when the cast call passes only the dtype, so removing it changes nothing else.</summary>
    public const string Removable = "Removable";

    /// <summary>PDSL005: C# text of the nearest value the half format holds (e.g. "-65504").</summary>
    public const string SafeValue = "SafeValue";

    /// <summary>PDSL005: present when the constant is an argument of a layer member, which [KeepFp32] can move to fp32.</summary>
    public const string LayerArgument = "LayerArgument";
}
