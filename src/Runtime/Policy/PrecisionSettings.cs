using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// The choices a precision model runs under: which dtype <see cref="PrecisionKind.Fp16"/> becomes on CPU, how half
/// products and convolutions compute on CPU, whether bf16 may keep its activations in fp32 there, and where the runtime
/// reports what it decided. Immutable: a model
/// captures the settings in effect when its state is created (<see cref="PrecisionPolicy.Current"/>) and keeps them
/// for its lifetime, so it never mixes two modes. Derive variants with <c>with</c>.
/// </summary>
public sealed record PrecisionSettings
{
    private readonly ScalarType cpuFp16Dtype = ScalarType.BFloat16;
    private readonly HalfMatmulKernel cpuHalfMatmul = HalfMatmulKernel.Auto;
    private readonly ILogger logger = StandardErrorLogger.Instance;

    /// <summary>
    /// The settings of a process that chose nothing: <see cref="PrecisionPolicy.CpuFp16EnvironmentVariable"/>,
    /// <see cref="PrecisionPolicy.CpuHalfMatmulEnvironmentVariable"/> and
    /// <see cref="PrecisionPolicy.CpuExcessPrecisionEnvironmentVariable"/> as they were at start-up, logging to stderr.
    /// </summary>
    public static PrecisionSettings FromEnvironment { get; } = new()
    {
        CpuFp16Dtype = ParseCpuFp16(Environment.GetEnvironmentVariable(PrecisionPolicy.CpuFp16EnvironmentVariable)),
        CpuHalfMatmul = ParseCpuHalfMatmul(Environment.GetEnvironmentVariable(PrecisionPolicy.CpuHalfMatmulEnvironmentVariable)),
        CpuExcessPrecision = ParseCpuExcessPrecision(Environment.GetEnvironmentVariable(PrecisionPolicy.CpuExcessPrecisionEnvironmentVariable)),
    };

    /// <summary>
    /// The dtype <see cref="PrecisionKind.Fp16"/> runs in on CPU: <see cref="ScalarType.BFloat16"/> (default; CPUs
    /// have no fast float16 kernels) or <see cref="ScalarType.Float16"/> (fp16 numerics without a GPU).
    /// </summary>
    /// <exception cref="ArgumentException">Any other dtype.</exception>
    public ScalarType CpuFp16Dtype
    {
        get => cpuFp16Dtype;
        init => cpuFp16Dtype = value is ScalarType.BFloat16 or ScalarType.Float16
            ? value
            : throw new ArgumentException($"Fp16 on CPU can run in BFloat16 or Float16, not {value}.", nameof(value));
    }

    /// <summary>
    /// How half layers (Linear, Conv*, ConvTranspose*) and routed half products compute on CPU.
    /// <see cref="HalfMatmulKernel.Auto"/> (default) decides per kernel family by a self-test;
    /// <see cref="HalfMatmulKernel.Native"/> and <see cref="HalfMatmulKernel.Widened"/> force one path without testing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An undefined value.</exception>
    public HalfMatmulKernel CpuHalfMatmul
    {
        get => cpuHalfMatmul;
        init => cpuHalfMatmul = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Auto, Native or Widened.");
    }

    /// <summary>
    /// Whether bf16 may compute with excess precision on a CPU whose bf16 Linear kernels run widened (the self-test found
    /// them wrong or slower, e.g. AVX2 without AVX512_BF16, or <see cref="HalfMatmulKernel.Widened"/>): then half layers compute in fp32 with their
    /// weights rounded to bf16, and activations stay fp32 between ops instead of being rounded to bf16 after each one, as
    /// XLA's CPU backend does by default (<c>xla_allow_excess_precision</c>). That runs at fp32 speed; rounding after
    /// every half op (false) costs two casts per half product and bf16 elementwise kernels. True by default.
    /// Float16 always rounds, so overflow and loss scaling behave as on a GPU.
    /// </summary>
    public bool CpuExcessPrecision { get; init; } = true;

    /// <summary>
    /// Where the runtime reports its decisions and warnings for models running under these settings; by default one
    /// line per message on stderr. Each logger hears the CPU Fp16-to-BFloat16 mapping once; the kernel self-test is
    /// logged once per process, through the logger of the settings that first needed it.
    /// </summary>
    /// <exception cref="ArgumentNullException">Null.</exception>
    public ILogger Logger
    {
        get => logger;
        init => logger = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The dtype <paramref name="kind"/> runs in on a device of type <paramref name="deviceType"/> under these settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An undefined <paramref name="kind"/>.</exception>
    public ScalarType DtypeFor(PrecisionKind kind, DeviceType deviceType) => kind switch
    {
        PrecisionKind.Fp32 => ScalarType.Float32,
        PrecisionKind.Bf16 => ScalarType.BFloat16,
        PrecisionKind.Fp16 when deviceType == DeviceType.CUDA => ScalarType.Float16,
        PrecisionKind.Fp16 => CpuFp16(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown precision kind."),
    };

    /// <summary>
    /// True when <paramref name="family"/>'s half (<paramref name="dtype"/>) kernels on <paramref name="deviceType"/>
    /// run widened under these settings: in fp32 on the half-rounded operands, the result rounded back to half. Never on CUDA.
    /// </summary>
    public bool Widens(KernelFamily family, ScalarType dtype, DeviceType deviceType) =>
        deviceType == DeviceType.CPU && dtype is (ScalarType.BFloat16 or ScalarType.Float16)
        && CpuChoicesFor(dtype).First(choice => choice.Family == family).Widened;

    /// <summary>
    /// True when half <paramref name="dtype"/> on <paramref name="deviceType"/> computes with excess precision under these
    /// settings (<see cref="CpuExcessPrecision"/>): its layers hold fp32 copies of their half-rounded weights and its
    /// activations are fp32. Decided by the Linear family alone (fully connected layers and <c>matmul</c>, the bulk of
    /// nearly every model), so a model's mode never hinges on a timing-close call for a kernel it may not even use.
    /// </summary>
    public bool KeepsActivationsInFp32(ScalarType dtype, DeviceType deviceType) =>
        CpuExcessPrecision && dtype == ScalarType.BFloat16 && Widens(KernelFamily.Linear, dtype, deviceType);

    /// <summary>
    /// The dtype activations of <paramref name="kind"/> have in a generated forward on <paramref name="deviceType"/>:
    /// <see cref="DtypeFor"/>, or fp32 where that dtype computes with excess precision (<see cref="KeepsActivationsInFp32"/>).
    /// </summary>
    public ScalarType ActivationDtypeFor(PrecisionKind kind, DeviceType deviceType)
    {
        var dtype = DtypeFor(kind, deviceType);
        return KeepsActivationsInFp32(dtype, deviceType) ? ScalarType.Float32 : dtype;
    }

    /// <summary>How each kernel family computes in half <paramref name="dtype"/> on CPU under these settings, and why.</summary>
    internal IReadOnlyList<KernelChoice> CpuChoicesFor(ScalarType dtype) =>
        cpuHalfMatmul == HalfMatmulKernel.Auto
            ? PrecisionPolicy.CpuKernels.ChoicesFor(dtype, logger)
            : Enum.GetValues<KernelFamily>()
                .Select(family => new KernelChoice(family, dtype, cpuHalfMatmul == HalfMatmulKernel.Widened,
                    $"forced by {PrecisionPolicy.CpuHalfMatmulEnvironmentVariable}={cpuHalfMatmul.ToString().ToLowerInvariant()}"))
                .ToArray();

    private ScalarType CpuFp16()
    {
        if (cpuFp16Dtype == ScalarType.BFloat16 && PrecisionPolicy.FirstTimeFor(logger, nameof(CpuFp16Dtype)))
        {
            logger.LogInformation(
                "PrecisionDsl: Fp16 on CPU runs in BFloat16 (CPUs have no fast float16 kernels); use PrecisionSettings.CpuFp16Dtype or {Variable}=fp16 to force float16.",
                PrecisionPolicy.CpuFp16EnvironmentVariable);
        }

        return cpuFp16Dtype;
    }

    internal static ScalarType ParseCpuFp16(string? setting) => setting?.Trim().ToLowerInvariant() switch
    {
        "fp16" or "float16" or "half" => ScalarType.Float16,
        _ => ScalarType.BFloat16,
    };

    internal static HalfMatmulKernel ParseCpuHalfMatmul(string? setting) => setting?.Trim().ToLowerInvariant() switch
    {
        "native" => HalfMatmulKernel.Native,
        "widened" or "widen" or "fp32" => HalfMatmulKernel.Widened,
        _ => HalfMatmulKernel.Auto,
    };

    internal static bool ParseCpuExcessPrecision(string? setting) => setting?.Trim().ToLowerInvariant() switch
    {
        "0" or "off" or "false" or "no" => false,
        _ => true,
    };

    /// <summary>Default logger: one line per message on stderr, so the policy is visible without any logging set-up.</summary>
    private sealed class StandardErrorLogger : ILogger
    {
        public static readonly StandardErrorLogger Instance = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Console.Error.WriteLine(formatter(state, exception));
            }
        }
    }
}
