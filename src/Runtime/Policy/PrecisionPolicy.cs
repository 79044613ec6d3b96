using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// Device and dtype policy: which device models train on by default, which <see cref="PrecisionSettings"/> are in
/// effect here, and what the settings in effect decide (<see cref="DtypeFor"/>, <see cref="Widens"/>,
/// <see cref="KernelChoices"/>).
/// </summary>
/// <remarks>
/// There are no process-wide settings to change. Each precision model captures <see cref="Current"/> when its state
/// is created (at its first forward, <c>TrainStep</c> or <c>CreateGradScaler</c>) and runs under those settings for
/// its lifetime; a model nested in another, created during the outer forward, takes the outer model's. Choose
/// settings for a region of code with <see cref="Use"/>:
/// <code>
/// using (PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuFp16Dtype = ScalarType.Float16 }))
///     model.call(warmUpBatch);          // the model now runs real float16 on CPU, also outside this block
/// </code>
/// <para>CPUs have no fast float16 kernels, so <see cref="PrecisionKind.Fp16"/> on CPU runs in bfloat16 unless the
/// settings say otherwise (logged once per logger). On CPU each half kernel family (<see cref="KernelFamily"/>) runs
/// libtorch's native half kernel only where a one-time self-test found it correct and not slower than widened; that
/// self-test measures the machine, so its results are shared by the whole process.</para>
/// </remarks>
public static class PrecisionPolicy
{
    /// <summary>Environment variable that sets <see cref="PrecisionSettings.CpuFp16Dtype"/> of <see cref="PrecisionSettings.FromEnvironment"/> (<c>fp16</c> or <c>bf16</c>).</summary>
    public const string CpuFp16EnvironmentVariable = "PDSL_CPU_FP16";

    /// <summary>Environment variable that sets <see cref="PrecisionSettings.CpuHalfMatmul"/> of <see cref="PrecisionSettings.FromEnvironment"/> (<c>auto</c>, <c>native</c> or <c>widened</c>).</summary>
    public const string CpuHalfMatmulEnvironmentVariable = "PDSL_CPU_HALF_MATMUL";

    /// <summary>Environment variable that sets <see cref="PrecisionSettings.CpuExcessPrecision"/> of <see cref="PrecisionSettings.FromEnvironment"/> (<c>on</c> or <c>off</c>).</summary>
    public const string CpuExcessPrecisionEnvironmentVariable = "PDSL_CPU_EXCESS_PRECISION";

    /// <summary>The self-test results: facts about this machine's kernels, measured once per half dtype per process.</summary>
    internal static readonly KernelSelector CpuKernels = new(KernelProbes.For);

    private static readonly AsyncLocal<PrecisionSettings?> Ambient = new();

    [ThreadStatic]
    private static PrecisionSettings? inForward;

    // What each logger has heard once (the CPU Fp16-to-BFloat16 mapping, excess precision); weak, so a logger is not
    // kept alive by having heard it.
    private static readonly ConditionalWeakTable<object, HashSet<string>> Told = new();

    /// <summary>The device training runs on by default: CUDA when available, else CPU.</summary>
    public static Device DefaultDevice => cuda.is_available() ? CUDA : CPU;

    /// <summary>
    /// The settings in effect here: inside a generated <c>forward</c> on this thread, that model's; else those of the
    /// innermost <see cref="Use"/> scope of this execution context (it flows into awaits, tasks and threads started
    /// here); else <see cref="PrecisionSettings.FromEnvironment"/>.
    /// </summary>
    public static PrecisionSettings Current => inForward ?? Ambient.Value ?? PrecisionSettings.FromEnvironment;

    /// <summary>
    /// Makes <paramref name="settings"/> <see cref="Current"/> until the returned scope is disposed, for this execution
    /// context only (other threads and tasks keep theirs). Models whose state is created inside the scope keep these
    /// settings after it ends; models created before keep their own.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> is null.</exception>
    public static IDisposable Use(PrecisionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var previous = Ambient.Value;
        Ambient.Value = settings;
        return new AmbientScope(previous);
    }

    /// <summary>
    /// How each kernel family computes in half on CPU under <see cref="Current"/>, and why: for its Fp16 dtype
    /// (self-tested now under <see cref="HalfMatmulKernel.Auto"/> if that has not happened yet), then for the other
    /// half dtype if models have used it.
    /// </summary>
    /// <remarks>
    /// Under <see cref="HalfMatmulKernel.Auto"/> the first use of a half dtype on CPU checks every family once:
    /// random operands from a local generator, forward and backward, native half against widened (fp32
    /// kernels on the half-rounded operands, result rounded to half). A family runs natively only where its
    /// relative error is within rounding (2e-2 bf16, 2.5e-3 fp16) and it is not slower; a native kernel that
    /// fails or is wrong is never used. The decisions are logged once, in one line.
    /// </remarks>
    public static IReadOnlyList<KernelChoice> KernelChoices
    {
        get
        {
            var settings = Current;
            return CpuKernels.TestedDtypes.Prepend(settings.CpuFp16Dtype).Distinct().SelectMany(settings.CpuChoicesFor).ToArray();
        }
    }

    /// <summary>
    /// True when <paramref name="family"/>'s half (<paramref name="dtype"/>) kernels on <paramref name="deviceType"/>
    /// run widened under <see cref="Current"/>: in fp32 on the half-rounded operands, the result rounded back to half. Never on CUDA.
    /// </summary>
    public static bool Widens(KernelFamily family, ScalarType dtype, DeviceType deviceType) => Current.Widens(family, dtype, deviceType);

    /// <summary>The dtype <paramref name="kind"/> runs in on a device of type <paramref name="deviceType"/> under <see cref="Current"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An undefined <paramref name="kind"/>.</exception>
    public static ScalarType DtypeFor(PrecisionKind kind, DeviceType deviceType) => Current.DtypeFor(kind, deviceType);

    /// <summary>Makes a model's settings <see cref="Current"/> on this thread for its generated forward; returns what to restore.</summary>
    internal static PrecisionSettings? EnterForward(PrecisionSettings settings)
    {
        var previous = inForward;
        inForward = settings;
        return previous;
    }

    internal static void ExitForward(PrecisionSettings? previous) => inForward = previous;

    /// <summary>True the first time it is asked about <paramref name="logger"/> and <paramref name="topic"/>.</summary>
    internal static bool FirstTimeFor(object logger, string topic)
    {
        var topics = Told.GetValue(logger, _ => new HashSet<string>());
        lock (topics)
        {
            return topics.Add(topic);
        }
    }

    private sealed class AmbientScope(PrecisionSettings? previous) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                Ambient.Value = previous;
            }
        }
    }
}
