using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl
{
    /// <summary>
    /// Device and dtype policy: which device models train on by default and which dtype a
    /// <see cref="PrecisionKind"/> becomes on a device.
    /// </summary>
    /// <remarks>
    /// CPUs have no fast float16 kernels (fp16 matmul is hundreds of times slower than fp32, while
    /// bf16 is faster), so <see cref="PrecisionKind.Fp16"/> on CPU runs in bfloat16 by default. The
    /// first time that happens it is logged once through <see cref="Logger"/>. Set
    /// <see cref="CpuFp16Dtype"/> to <see cref="ScalarType.Float16"/>, or the environment variable
    /// <c>PDSL_CPU_FP16=fp16</c> before start-up, to run real float16 on CPU (e.g. to reproduce
    /// fp16 numerics without a GPU).
    /// <para>On CPU each half kernel family (<see cref="KernelFamily"/>) runs libtorch's native half kernel only
    /// where a one-time self-test found it correct and not slower than widened; see <see cref="KernelChoices"/>.</para>
    /// </remarks>
    public static class PrecisionPolicy
    {
        /// <summary>Environment variable that sets the initial <see cref="CpuFp16Dtype"/> (<c>fp16</c> or <c>bf16</c>).</summary>
        public const string CpuFp16EnvironmentVariable = "PDSL_CPU_FP16";

        /// <summary>Environment variable that sets the initial <see cref="CpuHalfMatmul"/> (<c>auto</c>, <c>native</c> or <c>widened</c>).</summary>
        public const string CpuHalfMatmulEnvironmentVariable = "PDSL_CPU_HALF_MATMUL";

        private static ScalarType cpuFp16Dtype = ParseCpuFp16(Environment.GetEnvironmentVariable(CpuFp16EnvironmentVariable));
        private static HalfMatmulKernel cpuHalfMatmul = ParseCpuHalfMatmul(Environment.GetEnvironmentVariable(CpuHalfMatmulEnvironmentVariable));
        private static ILogger logger = new StandardErrorLogger();
        private static int cpuMappingLogged;
        private static readonly KernelSelector CpuKernels = new(KernelProbes.For);

        /// <summary>
        /// Where the policy reports its decisions; by default one line per message on stderr. Each
        /// logger hears the CPU Fp16-to-BFloat16 mapping once; the kernel self-test is logged once per process.
        /// </summary>
        public static ILogger Logger
        {
            get => logger;
            set
            {
                logger = value ?? throw new ArgumentNullException(nameof(value));
                Interlocked.Exchange(ref cpuMappingLogged, 0);
            }
        }

        /// <summary>The device training runs on by default: CUDA when available, else CPU.</summary>
        public static Device DefaultDevice => cuda.is_available() ? CUDA : CPU;

        /// <summary>
        /// The dtype <see cref="PrecisionKind.Fp16"/> runs in on CPU: <see cref="ScalarType.BFloat16"/>
        /// (default) or <see cref="ScalarType.Float16"/>.
        /// </summary>
        /// <exception cref="ArgumentException">Any other dtype.</exception>
        public static ScalarType CpuFp16Dtype
        {
            get => cpuFp16Dtype;
            set
            {
                if (value is not (ScalarType.BFloat16 or ScalarType.Float16))
                {
                    throw new ArgumentException($"Fp16 on CPU can run in BFloat16 or Float16, not {value}.", nameof(value));
                }

                cpuFp16Dtype = value;
            }
        }

        /// <summary>
        /// How half layers (Linear, Conv*, ConvTranspose*) and half products compute on CPU.
        /// <see cref="HalfMatmulKernel.Auto"/> (default) decides per kernel family by a self-test;
        /// <see cref="HalfMatmulKernel.Native"/> and <see cref="HalfMatmulKernel.Widened"/> force one path without
        /// testing. Read when a model builds its shadows (its first forward) and at each routed product.
        /// </summary>
        /// <exception cref="ArgumentOutOfRangeException">An undefined value.</exception>
        public static HalfMatmulKernel CpuHalfMatmul
        {
            get => cpuHalfMatmul;
            set => cpuHalfMatmul = Enum.IsDefined(value)
                ? value
                : throw new ArgumentOutOfRangeException(nameof(value), value, "Auto, Native or Widened.");
        }

        /// <summary>
        /// How each kernel family computes in half on CPU, and why: for <see cref="CpuFp16Dtype"/> (self-tested
        /// now under <see cref="HalfMatmulKernel.Auto"/> if that has not happened yet), then for the other half
        /// dtype if models have used it.
        /// </summary>
        /// <remarks>
        /// Under <see cref="HalfMatmulKernel.Auto"/> the first use of a half dtype on CPU checks every family once:
        /// random operands from a local generator, forward and backward, native half against widened (fp32
        /// kernels on the half-rounded operands, result rounded to half). A family runs natively only where its
        /// relative error is within rounding (2e-2 bf16, 2.5e-3 fp16) and it is not slower; a native kernel that
        /// fails or is wrong is never used. The decisions are logged once, in one line, through <see cref="Logger"/>.
        /// </remarks>
        public static IReadOnlyList<KernelChoice> KernelChoices =>
            CpuKernels.TestedDtypes.Prepend(cpuFp16Dtype).Distinct().SelectMany(CpuChoicesFor).ToArray();

        /// <summary>
        /// True when <paramref name="family"/>'s half (<paramref name="dtype"/>) kernels on <paramref name="deviceType"/>
        /// run widened: in fp32 on the half-rounded operands, the result rounded back to half. Never on CUDA.
        /// </summary>
        public static bool Widens(KernelFamily family, ScalarType dtype, DeviceType deviceType) =>
            deviceType == DeviceType.CPU && dtype is (ScalarType.BFloat16 or ScalarType.Float16)
            && CpuChoicesFor(dtype).First(choice => choice.Family == family).Widened;

        private static IReadOnlyList<KernelChoice> CpuChoicesFor(ScalarType dtype)
        {
            var setting = cpuHalfMatmul;
            return setting == HalfMatmulKernel.Auto
                ? CpuKernels.ChoicesFor(dtype)
                : Enum.GetValues<KernelFamily>()
                    .Select(family => new KernelChoice(family, dtype, setting == HalfMatmulKernel.Widened,
                        $"forced by {CpuHalfMatmulEnvironmentVariable}={setting.ToString().ToLowerInvariant()}"))
                    .ToArray();
        }

        /// <summary>The dtype <paramref name="kind"/> runs in on a device of type <paramref name="deviceType"/>.</summary>
        public static ScalarType DtypeFor(PrecisionKind kind, DeviceType deviceType) => kind switch
        {
            PrecisionKind.Fp32 => ScalarType.Float32,
            PrecisionKind.Bf16 => ScalarType.BFloat16,
            PrecisionKind.Fp16 when deviceType == DeviceType.CUDA => ScalarType.Float16,
            PrecisionKind.Fp16 => CpuFp16(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown precision kind."),
        };

        private static ScalarType CpuFp16()
        {
            var dtype = cpuFp16Dtype;
            if (dtype == ScalarType.BFloat16 && Interlocked.Exchange(ref cpuMappingLogged, 1) == 0)
            {
                Logger.LogInformation(
                    "PrecisionDsl: Fp16 on CPU runs in BFloat16 (CPUs have no fast float16 kernels); set PrecisionPolicy.CpuFp16Dtype or {Variable}=fp16 to force float16.",
                    CpuFp16EnvironmentVariable);
            }

            return dtype;
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

        /// <summary>Default logger: one line per message on stderr, so the policy is visible without any logging set-up.</summary>
        private sealed class StandardErrorLogger : ILogger
        {
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
}
