namespace PrecisionDsl.Generator;

/// <summary>Names of the incremental pipeline steps, so tests can assert what was cached.</summary>
internal static class TrackingNames
{
    public const string Fp16Targets = nameof(Fp16Targets);
    public const string Bf16Targets = nameof(Bf16Targets);
    public const string KeepFp32Targets = nameof(KeepFp32Targets);
    public const string ForwardTargets = nameof(ForwardTargets);
    public const string LossScaledTargets = nameof(LossScaledTargets);
    public const string Models = nameof(Models);
    public const string Plans = nameof(Plans);

    public static readonly string[] All =
    {
        Fp16Targets, Bf16Targets, KeepFp32Targets, ForwardTargets, LossScaledTargets, Models, Plans,
    };
}
