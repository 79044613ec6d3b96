using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PrecisionDsl;
using TinyGpt;
using TorchSharp;
using static TorchSharp.torch;

var command = SampleOptions.CreateCommand();
command.SetAction(result => Run(SampleOptions.From(result)));
var parsed = command.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
    Console.Error.WriteLine("See --help.");
    return 2;
}
return parsed.Invoke();

// The run's step time replaced by the interleaved measurement, its throughput with it.
static RunResult Retimed(RunResult run, double stepMilliseconds) => run with
{
    MeanStepMilliseconds = stepMilliseconds,
    TokensPerSecond = run.TokensPerSecond * run.MeanStepMilliseconds / stepMilliseconds,
};

static int Fail(string message)
{
    Console.Error.WriteLine($"error: {message}");
    return 2;
}

static int Run(SampleOptions options)
{
    bool cudaAvailable = cuda.is_available();
    if (options.Device == DeviceChoice.Cuda && !cudaAvailable)
        return Fail("--device cuda, but CUDA is not available (build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU)");
    var device = options.Device == DeviceChoice.Cpu || !cudaAvailable ? CPU : CUDA;
    bool onCuda = device.type == DeviceType.CUDA;

    // The model is compiled [Fp16]: fp16 with loss scaling on CUDA; on CPU the runtime policy maps it to
    // bf16 (no fast fp16 kernels) unless fp16 is asked for explicitly. The models the runs create inside this
    // scope (also on the training threads, which inherit it) keep the setting.
    bool fp16OnCpu = options.Precision == PrecisionChoice.Fp16 && !onCuda;
    using var policy = fp16OnCpu ? PrecisionPolicy.Use(PrecisionPolicy.Current with { CpuFp16Dtype = ScalarType.Float16 }) : null;
    if (fp16OnCpu)
    {
        Console.WriteLine("note: --precision fp16 on CPU runs real fp16 with loss scaling (fp16 numerics without a GPU).");
    }
    else if (options.Precision == PrecisionChoice.Bf16 && onCuda)
    {
        Console.WriteLine("note: TinyGptModel is compiled [Fp16]; on CUDA it runs fp16 with loss scaling (mark it [Bf16] for bf16).");
    }
    string halfName = PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, device.type) == ScalarType.Float16 ? "fp16" : "bf16";

    // On CPU the runtime self-tests libtorch's half kernels once per family and widens (fp32 kernels on
    // half-rounded values) where a native one is wrong or slower; on CUDA half kernels always run natively.
    var choices = onCuda ? [] : PrecisionPolicy.KernelChoices
        .Where(c => c.Dtype == PrecisionPolicy.Current.CpuFp16Dtype && c.Family is KernelFamily.Linear or KernelFamily.Batched).ToArray();
    string kernels = onCuda ? $"CUDA: native {halfName} kernels" : string.Join("; ",
        choices.Select(c => $"{c.Family} {(c.Widened ? "widened" : "native")} ({c.Reason})"));
    // Where the bf16 Linear kernels run widened, the runtime keeps bf16 activations in fp32 and rounds only the weights.
    if (!onCuda && PrecisionPolicy.Current.KeepsActivationsInFp32(PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, device.type), device.type))
    {
        kernels += $"; excess precision: layers compute in fp32 on {halfName}-rounded weights, activations stay fp32 " +
            $"({PrecisionPolicy.CpuExcessPrecisionEnvironmentVariable}=off rounds after every half op)";
    }
    Console.WriteLine($"{halfName} kernels: {kernels}.");

    bool nativeHalfLinear = choices.Any(c => c.Family == KernelFamily.Linear && !c.Widened);
    if (options.Size == SizeChoice.Auto && !onCuda && nativeHalfLinear)
        Console.WriteLine("Timing a step of size small in both precisions to see whether it gains and fits the time budget here.");
    var (chosen, reason) = options.Size == SizeChoice.Auto
        ? SampleSize.Choose(onCuda, nativeHalfLinear, options.Steps,
            small => Trainer.TimeInterleaved(TrainingSettings.For(small, small.Steps, options.Seed, device), blocks: 2, stepsPerBlock: 1))
        : (SampleSize.Of(options.Size), "--size " + options.Size.ToString().ToLowerInvariant());
    SampleSize size;
    try
    {
        size = chosen.With(options.Layers, options.Width, options.Heads, options.BatchSize, options.Context);
    }
    catch (ArgumentException error)
    {
        return Fail(error.Message);
    }
    int steps = options.Steps ?? size.Steps;
    if (options.Resume && TrainingCheckpoint.FindLatest(options.CheckpointFolder!) is null)
        return Fail($"--resume: no checkpoint in '{options.CheckpointFolder}' (run with --checkpoint first)");
    Console.WriteLine($"Size {size} on {device.type} ({Environment.ProcessorCount} cores), {steps} steps. Why: {reason}.");

    bool mixedRun = options.Precision != PrecisionChoice.Fp32;
    bool referenceRun = !mixedRun || options.Compare;
    var mixedRuns = new List<RunResult>();
    var referenceRuns = new List<RunResult>();
    for (int seed = options.Seed; seed < options.Seed + options.Seeds; seed++)
    {
        var settings = TrainingSettings.For(size, steps, seed, device) with
        {
            Checkpoints = options.CheckpointFolder is null ? null : new CheckpointSettings(options.CheckpointFolder, options.CheckpointEvery, options.Resume),
        };
        string suffix = options.Seeds > 1 ? $" s{seed}" : "";
        if (mixedRun)
            mixedRuns.Add(ConsoleView.Train($"mixed {halfName}{suffix}", steps, progress => Trainer.Run(settings, mixed: true, $"mixed {halfName}", progress)));
        // Only the main run checkpoints; the fp32 reference beside a mixed run is retrained from scratch.
        var reference = mixedRun ? settings with { Checkpoints = null } : settings;
        if (referenceRun)
            referenceRuns.Add(ConsoleView.Train($"fp32{suffix}", steps, progress => Trainer.Run(reference, mixed: false, "fp32", progress)));
    }

    // The full comparison is the first seed's; several seeds add the distribution of the accuracy metrics.
    var runs = new[] { mixedRuns.FirstOrDefault(), referenceRuns.FirstOrDefault() }.OfType<RunResult>().ToArray();
    string timing = "step times of the training runs";
    if (runs.Length == 2 && steps >= 100) // a short run (tests, smoke checks) has nothing worth timing
    {
        // Timed one after the other, the runs' ratio swung with passing load and favoured whichever ran second.
        const int blocks = 10;
        int stepsPerBlock = Math.Clamp(steps / 50, 1, 10);
        timing = $"step times measured together after training: fresh models, {blocks} alternating blocks of {stepsPerBlock} steps each, medians";
        Console.WriteLine($"Timing both precisions together ({blocks} alternating blocks of {stepsPerBlock} steps), so the ratio does not depend on which ran first or on passing load.");
        var (mixedMs, fp32Ms) = Trainer.TimeInterleaved(TrainingSettings.For(size, steps, options.Seed, device), blocks, stepsPerBlock);
        runs = [Retimed(runs[0], mixedMs), Retimed(runs[1], fp32Ms)];
    }
    var seeds = options.Seeds > 1 && mixedRuns.Count > 0 && referenceRuns.Count > 0 ? new SeedSummary(mixedRuns, referenceRuns) : null;
    ConsoleView.Table(ComparisonReport.Rows(runs));
    Console.WriteLine("  Held-out problems (never trained on):");
    ConsoleView.Table(ComparisonReport.Examples(runs, size.Digits, 8));
    if (seeds is not null)
    {
        ConsoleView.Table(seeds.Rows());
        Console.WriteLine(seeds.Verdict());
    }

    string speed = runs.Length == 2 ? ComparisonReport.SpeedRatio(runs[1].MeanStepMilliseconds / runs[0].MeanStepMilliseconds) : "no comparison";
    string setup = string.Create(CultureInfo.InvariantCulture,
        $"Size **{size.Name}** on **{device.type}** ({Environment.ProcessorCount} cores), chosen because: {reason}. " +
        $"Task: {size.ProblemsPerSequence} problem(s) of {size.Digits}-digit addition per sequence (`123+989=1112`), " +
        $"{TrainingSettings.DefaultHeldOutCount} held-out problems never trained on. Model: {size.Layers} layers, width {size.Width}, " +
        $"{size.Heads} heads, context {size.Context}. Training: batch {size.BatchSize}, {steps} steps, AdamW, peak learning rate " +
        $"{size.LearningRate}, seed {options.Seed}{(options.Seeds > 1 ? $" (+{options.Seeds - 1} more)" : "")}. " +
        $"Half kernels ({halfName}; on CPU self-tested: native only where correct and not slower, widened = fp32 kernels on " +
        $"{halfName}-rounded values): {kernels}. **Mixed vs fp32: {speed}** ({timing}).");
    string report = ComparisonReport.Write(options.OutputFolder, runs, setup, TinyGptModel.PrecisionPlan.ToTable(), size.Digits, seeds);
    Console.WriteLine($"Mixed vs fp32 ({size.Name}, {device.type}): {speed}. Report: {report} (plot: loss.png, loss.svg)");
    return 0;
}
