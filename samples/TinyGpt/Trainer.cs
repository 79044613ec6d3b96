using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using PrecisionDsl;
using TorchSharp;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>Everything both runs share, so the fp32 reference sees the same weights, data and schedule.</summary>
public sealed record TrainingSettings(
    TinyGptConfig Model, int Digits, int BatchSize, int Steps, double LearningRate, int HeldOutCount, int Seed, Device Device,
    CheckpointSettings? Checkpoints = null, int ProblemsPerSequence = 1)
{
    public const int DefaultHeldOutCount = 1000;

    public static TrainingSettings For(SampleSize size, int steps, int seed, Device device, int heldOutCount = DefaultHeldOutCount) => new(
        new TinyGptConfig(size.Layers, size.Width, size.Heads, size.Context, CharTokenizer.VocabularySize, size.ProblemLength),
        size.Digits, size.BatchSize, steps, size.LearningRate, heldOutCount, seed, device, ProblemsPerSequence: size.ProblemsPerSequence);
}

/// <summary>Where a run is, reported after every step.</summary>
public sealed record StepProgress(int Step, int Steps, double Loss, double TokensPerSecond, double Scale, TimeSpan Elapsed);

/// <summary>Where a run saves numbered checkpoints, every how many steps, and whether it starts from the newest.</summary>
public sealed record CheckpointSettings(string Folder, int Every, bool Resume)
{
    public const int KeepLast = 3;
}

/// <summary>What one training run measured.</summary>
public sealed record RunResult(
    string Label,
    IReadOnlyList<double> Losses,
    IReadOnlyList<double> Scales,
    double ValidationLoss,
    double Accuracy,
    double MeanStepMilliseconds,
    double TokensPerSecond,
    long PeakResidentBytes,
    long ResidentGrowthBytes,
    long LeakedTensors,
    long? PeakDeviceBytes,
    long SkippedSteps,
    double FinalScale,
    IReadOnlyList<AdditionProblem> HeldOutProblems,
    IReadOnlyList<string> HeldOutAnswers,
    TimeSpan WallTime,
    long ResumedFromStep = 0);

/// <summary>
/// Trains a <see cref="TinyGptModel"/> either through its generated mixed-precision <c>TrainStep</c>
/// or as the plain fp32 reference (its <c>[Forward]</c> method, untouched by the generator).
/// </summary>
public static class Trainer
{
    // Steps excluded from the timing: the first ones pay for lazy allocation and kernel selection.
    private const int TimingWarmupSteps = 5;

    private const string SeedKey = "seed";

    public static RunResult Run(TrainingSettings settings, bool mixed, string label, Action<StepProgress>? progress = null)
    {
        var wall = Stopwatch.StartNew();
        MemoryProbe.ResetPeak();
        long residentAfterWarmup = 0, liveTensorsAfterWarmup = 0;

        manual_seed(settings.Seed);
        using var model = new TinyGptModel(settings.Model);
        model.to(settings.Device);
        model.train();
        // Both runs step with the fused AdamW, so the comparison times the same optimizer (flat over the masters, or over
        // its own buffers for the fp32 reference, whose generated forward never runs).
        using var optimizer = model.CreateAdamW(settings.LearningRate, weightDecay: 0.01);
        var scaler = mixed ? model.CreateGradScaler() : null;
        // A checkpoint holds a scaler; the fp32 reference's is a pass-through.
        var checkpointScaler = scaler ?? new GradScaler(enabled: false);
        var data = new AdditionData(settings.Digits, settings.HeldOutCount, settings.Seed);
        var batches = new Batches(data, settings.BatchSize, settings.ProblemsPerSequence);
        bool onCuda = settings.Device.type == DeviceType.CUDA;
        long? peakDevice = onCuda ? CudaMemory.UsedBytes() : null;
        int resumedFrom = settings.Checkpoints is { Resume: true } resume
            ? Resume(resume.Folder, model, optimizer, checkpointScaler, batches, settings.Seed)
            : 0;

        var losses = new List<double>(settings.Steps);
        var scales = new List<double>(settings.Steps);
        var timed = new Stopwatch();
        for (int step = resumedFrom + 1; step <= settings.Steps; step++)
        {
            int trained = step - resumedFrom; // steps this process ran, for timing
            if (trained == TimingWarmupSteps + 1)
            {
                // Growth from here on is what a leak would show; before, the allocator and kernels warm up.
                residentAfterWarmup = MemoryProbe.SettledResidentBytes();
                liveTensorsAfterWarmup = MemoryProbe.LiveTensors();
                timed.Start();
            }
            SetLearningRate(optimizer, settings, step);
            using (var scope = NewDisposeScope())
            {
                var (inputs, targets) = batches.NextTraining(settings.Device);
                var (loss, scale) = Step(model, optimizer, scaler, inputs, targets);
                losses.Add(loss);
                scales.Add(scale);
            }
            if (settings.Checkpoints is { } checkpoints && (step % checkpoints.Every == 0 || step == settings.Steps))
            {
                TrainingCheckpoint.SaveNumbered(checkpoints.Folder, model, optimizer, checkpointScaler, step, CheckpointSettings.KeepLast,
                    new Dictionary<string, string> { [SeedKey] = settings.Seed.ToString(CultureInfo.InvariantCulture) });
            }
            // After the step: libtorch's caching allocator still holds what the step reserved at its peak.
            if (onCuda && CudaMemory.UsedBytes() is long used && used > peakDevice) peakDevice = used;
            double tokensPerSecond = timed.IsRunning
                ? (trained - TimingWarmupSteps) * (double)batches.TokensPerBatch / timed.Elapsed.TotalSeconds
                : trained * (double)batches.TokensPerBatch / wall.Elapsed.TotalSeconds;
            progress?.Invoke(new StepProgress(step, settings.Steps, losses[^1], tokensPerSecond, scales[^1], wall.Elapsed));
        }
        timed.Stop();
        int timedSteps = Math.Max(1, settings.Steps - resumedFrom - TimingWarmupSteps);
        double meanStepMs = timed.Elapsed.TotalMilliseconds / timedSteps;
        long peak = MemoryProbe.PeakResidentBytes();
        bool warmedUp = residentAfterWarmup > 0;
        long growth = warmedUp ? MemoryProbe.SettledResidentBytes() - residentAfterWarmup : 0;
        long leakedTensors = warmedUp ? MemoryProbe.LiveTensors() - liveTensorsAfterWarmup : 0;

        model.eval();
        Func<Tensor, Tensor> forward = mixed ? model.call : model.ForwardFp32;
        double validationLoss = Evaluation.ValidationLoss(model, forward, data, settings.Device, settings.ProblemsPerSequence);
        string[] answers = Evaluation.Answers(forward, data.HeldOut, data, settings.Device);

        return new RunResult(
            label, losses, scales, validationLoss,
            Evaluation.ExactMatch(data.HeldOut, answers, data.Digits),
            meanStepMs,
            batches.TokensPerBatch / (meanStepMs / 1000.0),
            peak,
            growth,
            leakedTensors,
            peakDevice,
            scaler?.SkippedSteps ?? 0,
            scaler?.CurrentScale ?? 1.0,
            data.HeldOut, answers, wall.Elapsed, resumedFrom);
    }

    /// <summary>
    /// Step times of the two precisions measured together: fresh models (same seed and data), their steps timed in
    /// alternating blocks, so load that comes and goes on a shared machine slows both alike. Timed one after the
    /// other, the runs' own step times swung the tiny size's ratio from 1.05x to 1.18x between identical runs on the
    /// project's 2-core VM; whichever ran first in the process was about 10 % slower. Returns the median
    /// milliseconds per step of each.
    /// </summary>
    public static (double MixedMilliseconds, double Fp32Milliseconds) TimeInterleaved(TrainingSettings settings, int blocks, int stepsPerBlock)
    {
        using var mixed = TimedModel(settings);
        using var fp32 = TimedModel(settings);
        using var mixedOptimizer = mixed.CreateAdamW(settings.LearningRate, weightDecay: 0.01);
        using var fp32Optimizer = fp32.CreateAdamW(settings.LearningRate, weightDecay: 0.01);
        var runs = new[]
        {
            (Model: mixed, Optimizer: (optim.Optimizer)mixedOptimizer, Scaler: mixed.CreateGradScaler(), Times: new List<double>()),
            (Model: fp32, Optimizer: (optim.Optimizer)fp32Optimizer, Scaler: (GradScaler?)null, Times: new List<double>()),
        };
        var batches = new Batches(new AdditionData(settings.Digits, settings.HeldOutCount, settings.Seed), settings.BatchSize, settings.ProblemsPerSequence);
        using var scope = NewDisposeScope();
        var (inputs, targets) = batches.NextTraining(settings.Device);
        for (int block = -1; block < blocks; block++) // block -1: warm-up, untimed
        {
            foreach (var run in runs)
            {
                var watch = Stopwatch.StartNew();
                for (int step = 0; step < stepsPerBlock; step++)
                {
                    using var stepScope = NewDisposeScope();
                    Step(run.Model, run.Optimizer, run.Scaler, inputs, targets);
                }
                if (block >= 0) run.Times.Add(watch.Elapsed.TotalMilliseconds / stepsPerBlock);
            }
        }
        return (Median(runs[0].Times), Median(runs[1].Times));
    }

    private static TinyGptModel TimedModel(TrainingSettings settings)
    {
        manual_seed(settings.Seed);
        var model = new TinyGptModel(settings.Model);
        model.to(settings.Device);
        model.train();
        return model;
    }

    /// <summary>
    /// One training step: the generated mixed-precision <c>TrainStep</c> when there is a scaler, else the plain fp32
    /// reference (the untouched <c>[Forward]</c> method). Returns the loss and the loss scale.
    /// </summary>
    private static (double Loss, double Scale) Step(TinyGptModel model, optim.Optimizer optimizer, GradScaler? scaler, Tensor inputs, Tensor targets)
    {
        if (scaler is not null)
        {
            var result = model.TrainStep(inputs, targets, optimizer, scaler);
            return (result.Loss, result.Scale);
        }

        optimizer.zero_grad();
        var loss = model.Loss(model.ForwardFp32(inputs), targets);
        loss.backward();
        optimizer.step();
        return (loss.item<float>(), 1.0);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// Restores the newest checkpoint and moves the data stream past the batches it trained on, so the
    /// run continues as if it had never stopped. Returns the checkpoint's step.
    /// </summary>
    private static int Resume(string folder, TinyGptModel model, optim.Optimizer optimizer, GradScaler scaler, Batches batches, int seed)
    {
        string latest = TrainingCheckpoint.FindLatest(folder)
            ?? throw new InvalidOperationException($"No checkpoint to resume from in '{folder}'.");
        var info = TrainingCheckpoint.Load(latest, model, optimizer, scaler);
        string seedText = seed.ToString(CultureInfo.InvariantCulture);
        if (info.Metadata.GetValueOrDefault(SeedKey) != seedText)
            throw new InvalidOperationException($"'{latest}' was trained with seed {info.Metadata.GetValueOrDefault(SeedKey)}, this run uses {seedText}: its data would differ.");
        for (long step = 0; step < info.Step; step++) batches.SkipTraining();
        return checked((int)info.Step);
    }

    /// <summary>Linear warm-up over the first 5% of steps, then cosine decay to a tenth of the peak rate.</summary>
    private static void SetLearningRate(optim.Optimizer optimizer, TrainingSettings settings, int step)
    {
        int warmup = Math.Max(1, settings.Steps / 20);
        double rate = step <= warmup
            ? settings.LearningRate * step / warmup
            : settings.LearningRate * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / Math.Max(1, settings.Steps - warmup))));
        foreach (var group in optimizer.ParamGroups) group.LearningRate = rate;
    }
}
