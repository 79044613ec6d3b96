using System;
using System.Runtime.Intrinsics.X86;
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
    /// <para>Half matrix products on a CPU without native half instructions run widened (see
    /// <see cref="CpuHalfMatmul"/>): libtorch's fallback half GEMM there is 2x–85x slower than fp32.</para>
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
        private static int widenedMatmulLogged;
        private static readonly Lazy<bool> FastBf16Matmul = new(() => CpuHasFastHalfMatmul(ScalarType.BFloat16));
        private static readonly Lazy<bool> FastFp16Matmul = new(() => CpuHasFastHalfMatmul(ScalarType.Float16));

        /// <summary>
        /// Where the policy reports its decisions; by default one line per message on stderr. Each
        /// logger hears the CPU Fp16-to-BFloat16 mapping once.
        /// </summary>
        public static ILogger Logger
        {
            get => logger;
            set
            {
                logger = value ?? throw new ArgumentNullException(nameof(value));
                Interlocked.Exchange(ref cpuMappingLogged, 0);
                Interlocked.Exchange(ref widenedMatmulLogged, 0);
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
        /// How half layers (Linear, Conv) and half matmuls compute on CPU. <see cref="HalfMatmulKernel.Auto"/>
        /// (default) widens them where the CPU lacks the instructions libtorch's fast half kernels need.
        /// Read when a model builds its shadows (its first forward) and at each matmul.
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
        /// True when half (<paramref name="dtype"/>) matrix products on <paramref name="deviceType"/> should
        /// run widened: in fp32 on the half-rounded operands, the result rounded back to half.
        /// </summary>
        public static bool WidensHalfMatmul(ScalarType dtype, DeviceType deviceType)
        {
            if (deviceType != DeviceType.CPU || dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
            {
                return false;
            }

            var widen = cpuHalfMatmul switch
            {
                HalfMatmulKernel.Native => false,
                HalfMatmulKernel.Widened => true,
                _ => !(dtype == ScalarType.BFloat16 ? FastBf16Matmul.Value : FastFp16Matmul.Value),
            };
            if (widen && cpuHalfMatmul == HalfMatmulKernel.Auto && Interlocked.Exchange(ref widenedMatmulLogged, 1) == 0)
            {
                Logger.LogInformation(
                    "PrecisionDsl: this CPU has no native {Dtype} matrix instructions, so half Linear/Conv layers and matmuls compute widened: in fp32 on the half-rounded operands, results rounded back to half (set {Variable}=native for libtorch's slow half kernels).",
                    dtype, CpuHalfMatmulEnvironmentVariable);
            }

            return widen;
        }

        /// <summary>
        /// True where half GEMMs beat fp32 on this CPU: x86 with AVX-512 BW/VL/DQ (libtorch's condition for
        /// oneDNN's half kernels, <c>mkldnn_*_device_check</c>; without it libtorch runs reference loops,
        /// measured 3x–231x slower than fp32 in BENCHMARKS.md) and native half arithmetic (AVX512_BF16 or
        /// AMX-BF16 for bf16, AVX512_FP16 or AMX-FP16 for fp16; without it oneDNN emulates half, which is
        /// not expected to beat fp32). Other architectures are trusted to have their own kernels.
        /// </summary>
        internal static bool CpuHasFastHalfMatmul(ScalarType dtype)
        {
            if (!X86Base.IsSupported)
            {
                return true;
            }

            if (!(Avx512BW.IsSupported && Avx512BW.VL.IsSupported && Avx512DQ.IsSupported))
            {
                return false;
            }

            // CPUID leaf 7: sub-leaf 0 EDX bit 22 AMX-BF16, bit 23 AVX512_FP16; sub-leaf 1 EAX bit 5 AVX512_BF16, bit 21 AMX-FP16.
            var (maxSubLeaf, _, _, features0) = X86Base.CpuId(7, 0);
            var features1 = maxSubLeaf >= 1 ? X86Base.CpuId(7, 1).Eax : 0;
            return dtype == ScalarType.BFloat16
                ? (features1 & (1 << 5)) != 0 || (features0 & (1 << 22)) != 0
                : (features0 & (1 << 23)) != 0 || (features1 & (1 << 21)) != 0;
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
