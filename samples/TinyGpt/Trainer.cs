using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using PrecisionDsl;
using TorchSharp;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>Everything both runs share, so the fp32 reference sees the same weights, data and schedule.</summary>
public sealed record TrainingSettings(
    TinyGptConfig Model, int Digits, int BatchSize, int Steps, double LearningRate, int HeldOutCount, int Seed, Device Device);

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
    long SkippedSteps,
    double FinalScale,
    IReadOnlyList<AdditionProblem> HeldOutProblems,
    IReadOnlyList<string> HeldOutAnswers,
    TimeSpan WallTime);

/// <summary>
/// Trains a <see cref="TinyGptModel"/> either through its generated mixed-precision <c>TrainStep</c>
/// or as the plain fp32 reference (its <c>[Forward]</c> method, untouched by the generator).
/// </summary>
public static class Trainer
{
    // Steps excluded from the timing: the first ones pay for lazy allocation and kernel selection.
    private const int TimingWarmupSteps = 5;

    public static RunResult Run(TrainingSettings settings, bool mixed, string label)
    {
        var wall = Stopwatch.StartNew();
        MemoryProbe.ResetPeak();
        long residentAfterWarmup = 0;

        manual_seed(settings.Seed);
        using var model = new TinyGptModel(settings.Model);
        model.to(settings.Device);
        model.train();
        using var optimizer = optim.AdamW(model.parameters(), settings.LearningRate, weight_decay: 0.01);
        var scaler = mixed ? model.CreateGradScaler() : null;
        var data = new AdditionData(settings.Digits, settings.HeldOutCount, settings.Seed);
        var batches = new Batches(data, settings.BatchSize);
        var progress = new ProgressBar(label, settings.Steps);

        var losses = new List<double>(settings.Steps);
        var scales = new List<double>(settings.Steps);
        var timed = new Stopwatch();
        for (int step = 1; step <= settings.Steps; step++)
        {
            if (step == TimingWarmupSteps + 1)
            {
                // Growth from here on is what a leak would show; before, the allocator and kernels warm up.
                residentAfterWarmup = MemoryProbe.CurrentResidentBytes();
                timed.Start();
            }
            SetLearningRate(optimizer, settings, step);
            using (var scope = NewDisposeScope())
            {
                var (inputs, targets) = batches.NextTraining(settings.Device);
                if (scaler is not null)
                {
                    var result = model.TrainStep(inputs, targets, optimizer, scaler);
                    losses.Add(result.Loss);
                    scales.Add(result.Scale);
                }
                else
                {
                    optimizer.zero_grad();
                    var loss = model.Loss(model.ForwardFp32(inputs), targets);
                    loss.backward();
                    optimizer.step();
                    losses.Add(loss.item<float>());
                    scales.Add(1.0);
                }
            }
            double tokensPerSecond = timed.IsRunning
                ? (step - TimingWarmupSteps) * (double)batches.TokensPerBatch / timed.Elapsed.TotalSeconds
                : step * (double)batches.TokensPerBatch / wall.Elapsed.TotalSeconds;
            progress.Update(step, losses[^1], tokensPerSecond, scales[^1], wall.Elapsed);
        }
        timed.Stop();
        int timedSteps = Math.Max(1, settings.Steps - TimingWarmupSteps);
        double meanStepMs = timed.Elapsed.TotalMilliseconds / timedSteps;
        long peak = MemoryProbe.PeakResidentBytes();
        long growth = residentAfterWarmup > 0 ? MemoryProbe.CurrentResidentBytes() - residentAfterWarmup : 0;

        model.eval();
        Func<Tensor, Tensor> forward = mixed ? model.call : model.ForwardFp32;
        double validationLoss = Evaluation.ValidationLoss(model, forward, data, settings.Device);
        string[] answers = Evaluation.Answers(forward, data.HeldOut, data, settings.Device);

        return new RunResult(
            label, losses, scales, validationLoss,
            Evaluation.ExactMatch(data.HeldOut, answers, data.Digits),
            meanStepMs,
            batches.TokensPerBatch / (meanStepMs / 1000.0),
            peak,
            growth,
            scaler?.SkippedSteps ?? 0,
            scaler?.CurrentScale ?? 1.0,
            data.HeldOut, answers, wall.Elapsed);
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
