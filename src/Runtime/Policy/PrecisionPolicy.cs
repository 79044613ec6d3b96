using System;
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
    /// </remarks>
    public static class PrecisionPolicy
    {
        /// <summary>Environment variable that sets the initial <see cref="CpuFp16Dtype"/> (<c>fp16</c> or <c>bf16</c>).</summary>
        public const string CpuFp16EnvironmentVariable = "PDSL_CPU_FP16";

        private static ScalarType cpuFp16Dtype = ParseCpuFp16(Environment.GetEnvironmentVariable(CpuFp16EnvironmentVariable));
        private static ILogger logger = new StandardErrorLogger();
        private static int cpuMappingLogged;

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
