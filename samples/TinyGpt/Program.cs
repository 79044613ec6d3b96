using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PrecisionDsl;
using TinyGpt;
using TorchSharp;
using static TorchSharp.torch;

SampleOptions options;
try
{
    options = SampleOptions.Parse(args);
}
catch (OptionException error)
{
    Console.Error.WriteLine($"error: {error.Message}");
    return 2;
}
if (options.ShowHelp)
{
    Console.WriteLine(SampleOptions.Usage);
    return 0;
}

bool cudaAvailable = cuda.is_available();
if (options.Device == DeviceChoice.Cuda && !cudaAvailable)
{
    Console.Error.WriteLine("error: --device cuda, but CUDA is not available (build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU)");
    return 2;
}
var device = options.Device == DeviceChoice.Cpu || !cudaAvailable ? CPU : CUDA;

// Three-digit addition: "123+989=1112" is 12 characters, so 11 input positions per problem.
const int Digits = 3;
var settings = new TrainingSettings(
    new TinyGptConfig(Layers: 2, ModelWidth: 64, Heads: 4, ContextLength: 2 * Digits + 2 + Digits, VocabularySize: CharTokenizer.VocabularySize),
    Digits, BatchSize: 128, options.Steps, LearningRate: 3e-3, HeldOutCount: 1000, options.Seed, device,
    options.CheckpointFolder is null ? null : new CheckpointSettings(options.CheckpointFolder, options.CheckpointEvery, options.Resume));
if (options.Resume && TrainingCheckpoint.FindLatest(options.CheckpointFolder!) is null)
{
    Console.Error.WriteLine($"error: --resume: no checkpoint in '{options.CheckpointFolder}' (run with --checkpoint first)");
    return 2;
}

// The model is compiled [Fp16]: fp16 with loss scaling on CUDA; on CPU the runtime policy maps it to
// bf16 (no fast fp16 kernels) unless fp16 is asked for explicitly.
if (options.Precision == PrecisionChoice.Fp16 && device.type != DeviceType.CUDA)
{
    PrecisionPolicy.CpuFp16Dtype = ScalarType.Float16;
    Console.WriteLine("note: --precision fp16 on CPU runs real fp16 with loss scaling (fp16 numerics without a GPU).");
}
else if (options.Precision == PrecisionChoice.Bf16 && device.type == DeviceType.CUDA)
{
    Console.WriteLine("note: TinyGptModel is compiled [Fp16]; on CUDA it runs fp16 with loss scaling (mark it [Bf16] for bf16).");
}
string halfName = PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, device.type) == ScalarType.Float16 ? "fp16" : "bf16";

bool mixedRun = options.Precision != PrecisionChoice.Fp32;
// On CPU the runtime self-tests libtorch's half kernels once per family and widens (fp32 kernels on
// half-rounded values) where a native one is wrong or slower; on CUDA half kernels always run natively.
string kernels = !mixedRun || device.type == DeviceType.CUDA ? "" : string.Join("; ",
    PrecisionPolicy.KernelChoices.Where(c => c.Dtype == PrecisionPolicy.CpuFp16Dtype).Select(c => $"{c.Family} {(c.Widened ? "widened" : "native")} ({c.Reason})"));
if (kernels.Length > 0)
    Console.WriteLine($"{halfName} kernels on this CPU: {kernels}.");
bool referenceRun = !mixedRun || options.Compare;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"TinyGpt on {device.type} ({Environment.ProcessorCount} cores): {settings.Model.Layers} layers, width {settings.Model.ModelWidth}, " +
    $"{settings.Model.Heads} heads, batch {settings.BatchSize}, {settings.Steps} steps, seed {settings.Seed}"));

var runs = new List<RunResult>();
if (mixedRun) runs.Add(Trainer.Run(settings, mixed: true, $"mixed {halfName}"));
// Only the main run checkpoints; the fp32 reference beside a mixed run is retrained from scratch.
if (referenceRun) runs.Add(Trainer.Run(mixedRun ? settings with { Checkpoints = null } : settings, mixed: false, "fp32"));

Console.WriteLine();
Console.Write(ComparisonReport.PlainTable(ComparisonReport.Rows(runs)));
Console.WriteLine();
Console.WriteLine("  Held-out problems (never trained on):");
Console.Write(ComparisonReport.PlainTable(ComparisonReport.Examples(runs, Digits, 8)));

string setup = string.Create(CultureInfo.InvariantCulture,
    $"Task: {Digits}-digit addition as text (`123+989=1112`), {settings.HeldOutCount} held-out problems never trained on. " +
    $"Model: {settings.Model.Layers} layers, width {settings.Model.ModelWidth}, {settings.Model.Heads} heads, " +
    $"context {settings.Model.ContextLength}. Training: batch {settings.BatchSize}, {settings.Steps} steps, AdamW, " +
    $"peak learning rate {settings.LearningRate}, seed {settings.Seed}, device {device.type}, {Environment.ProcessorCount} cores.") +
    (kernels.Length > 0 ? $" Half kernels (self-test: native only where correct and not slower; widened = fp32 kernels on {halfName}-rounded values): {kernels}." : "");
string report = ComparisonReport.Write(options.OutputFolder, runs, setup, TinyGptModel.PrecisionPlan.ToTable(), Digits);
Console.WriteLine();
Console.WriteLine($"Report: {report}");
return 0;
