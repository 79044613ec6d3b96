using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using PrecisionDsl.CheckpointCrashChild;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Checkpoints;

/// <summary>
/// A child process trains and checkpoints after every step (<c>tests/CheckpointCrashChild</c>) and is
/// killed with SIGKILL at random moments, resuming from its newest checkpoint at each restart. After
/// every kill the newest checkpoint must be intact and resume here exactly where a run trained from
/// scratch in this process stands after the same steps.
/// </summary>
public sealed class CheckpointCrashTests(ITestOutputHelper output) : IDisposable
{
    private const int Kills = 10;
    private const int StepsAfterResume = 3;
    private const int KeepLast = 3; // the child's
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly string directory = Directory.CreateTempSubdirectory("pdsl-crash-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Theory]
    [InlineData("bf16", ScalarType.BFloat16, 20261201)]
    [InlineData("fp16", ScalarType.Float16, 20261202)]
    public void Newest_checkpoint_after_a_kill_resumes_exactly(string cpuFp16, ScalarType half, int seed)
    {
        using var scope = NewDisposeScope();
        using var oneThread = new SingleThreadedTorch();
        using var policy = PolicyOverride.CpuFp16(half);
        var random = new Random(seed);
        using var reference = new CrashTraining();
        long referenceStep = 0, lastResumedStep = 0, skipped = 0;

        for (var kill = 0; kill < Kills; kill++)
        {
            var ready = RunChildUntilKilled(cpuFp16, TimeSpan.FromMilliseconds(random.Next(50, 401)));
            Assert.EndsWith(" " + half, ready);

            var numbered = Directory.GetFiles(directory, "checkpoint-*.pdslckpt").Order(StringComparer.Ordinal).ToArray();
            Assert.InRange(numbered.Length, 1, KeepLast + 1); // + 1: killed between the rename and the deletion
            var latest = TrainingCheckpoint.FindLatest(directory);
            Assert.Equal(numbered[^1], latest); // the rename is atomic: the newest file is always complete

            using var resumed = new CrashTraining();
            var step = TrainingCheckpoint.Load(latest!, resumed.Model, resumed.Optimizer, resumed.Scaler).Step;
            Assert.True(step > lastResumedStep, $"kill {kill}: checkpoint step {step} after {lastResumedStep}");
            lastResumedStep = step;
            for (var i = 1; i <= StepsAfterResume; i++)
            {
                resumed.Train(step + i);
            }

            while (referenceStep < step + StepsAfterResume)
            {
                reference.Train(++referenceStep);
            }

            Assert.Equal(Snapshots.Of(reference.Model), Snapshots.Of(resumed.Model));
            Assert.Equal(Snapshots.Of((OptimizerHelper)reference.Optimizer), Snapshots.Of((OptimizerHelper)resumed.Optimizer));
            Assert.Equal(reference.Scaler.GetState(), resumed.Scaler.GetState());
            skipped = reference.Scaler.SkippedSteps;
        }

        Assert.True(skipped >= referenceStep / CrashTraining.PoisonEvery, $"{skipped} skipped steps of {referenceStep}");
        output.WriteLine($"{Kills} kills, resumed up to step {lastResumedStep}, {skipped} skipped steps, final scale {reference.Scaler.CurrentScale}");
    }

    /// <summary>Starts the child, waits for its ready line, kills it <paramref name="delay"/> later, returns the line.</summary>
    private string RunChildUntilKilled(string cpuFp16, TimeSpan delay)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "PrecisionDsl.CheckpointCrashChild.dll"), directory },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { [PrecisionPolicy.CpuFp16EnvironmentVariable] = cpuFp16 },
        };
        using var child = Process.Start(start)!;
        var errors = new StringBuilder();
        child.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        child.BeginErrorReadLine();
        try
        {
            var readLine = child.StandardOutput.ReadLineAsync();
            var ready = readLine.Wait(StartTimeout) ? readLine.Result : null;
            Assert.True(ready?.StartsWith("ready ", StringComparison.Ordinal) == true, $"the child did not start: '{ready}'\n{errors}");
            Thread.Sleep(delay);
            Assert.False(child.HasExited, $"the child exited on its own\n{errors}");
            return ready!;
        }
        finally
        {
            child.Kill(); // SIGKILL: no finally blocks, no flushing, in the middle of whatever it does
            child.WaitForExit();
        }
    }
}
