using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using PrecisionDsl.Tests.Shared;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Checkpoints;

public sealed class TrainingCheckpointTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("pdsl-checkpoint-").FullName;
    private readonly (Tensor X, Tensor Y) data = RegressionData.Create();

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Load_into_fresh_objects_restores_model_optimizer_scaler_step_and_metadata()
    {
        using var scope = NewDisposeScope();
        var saved = NewRun(PrecisionKind.Bf16, seed: 1);
        Train(saved, 1, 4);
        var path = Path.Combine(directory, "run.pdslckpt");
        var metadata = new Dictionary<string, string> { ["data position"] = "1234", ["options"] = "--steps 9" };

        TrainingCheckpoint.Save(path, saved.Model, saved.Optimizer, saved.Scaler, 4, metadata);
        var loaded = NewRun(PrecisionKind.Bf16, seed: 2);
        var info = TrainingCheckpoint.Load(path, loaded.Model, loaded.Optimizer, loaded.Scaler);

        Assert.Equal(4, info.Step);
        Assert.Equal(metadata, info.Metadata);
        Assert.Equal(StateOf(saved), StateOf(loaded));
        Assert.Equal(new[] { "run.pdslckpt" }, Directory.GetFiles(directory).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData(PrecisionKind.Fp16, ScalarType.Float16)]
    [InlineData(PrecisionKind.Bf16, ScalarType.BFloat16)]
    public void Resumed_run_continues_bit_identically_across_skipped_steps(PrecisionKind kind, ScalarType cpuFp16)
    {
        using var scope = NewDisposeScope();
        using var oneThread = new SingleThreadedTorch();
        using var policy = PolicyOverride.CpuFp16(cpuFp16);
        var poisoned = new HashSet<int> { 2, 5, 8, 9 };
        var original = NewRun(kind, seed: 1);
        var before = Train(original, 1, 6, poisoned);
        var path = Path.Combine(directory, "mid-run.pdslckpt");
        TrainingCheckpoint.Save(path, original.Model, original.Optimizer, original.Scaler, 6);
        var continued = Train(original, 7, 6, poisoned);

        var resumed = NewRun(kind, seed: 2);
        var step = TrainingCheckpoint.Load(path, resumed.Model, resumed.Optimizer, resumed.Scaler).Step;
        var resumedSteps = Train(resumed, step + 1, 6, poisoned);

        Assert.Equal(continued, resumedSteps);
        Assert.Equal(StateOf(original), StateOf(resumed));
        Assert.Equal(poisoned.Order(), before.Concat(continued).Select((r, i) => (r.Stepped, Step: i + 1)).Where(r => !r.Stepped).Select(r => r.Step));
        Assert.True(continued.Select(r => r.Scale).Distinct().Count() > 1, "the scale moves during the continuation");
    }

    [Fact]
    public void Forward_after_load_runs_on_the_loaded_masters_through_refreshed_shadows()
    {
        using var scope = NewDisposeScope();
        var trained = NewRun(PrecisionKind.Bf16, seed: 1);
        Train(trained, 1, 5);
        var path = Path.Combine(directory, "trained.pdslckpt");
        TrainingCheckpoint.Save(path, trained.Model, trained.Optimizer, trained.Scaler, 5);
        var fresh = NewRun(PrecisionKind.Bf16, seed: 2);
        var freshOutput = Snapshots.Values(fresh.Model.call(data.X)); // builds the shadows from the old masters
        var masters = fresh.Model.parameters().ToArray();

        TrainingCheckpoint.Load(path, fresh.Model, fresh.Optimizer, fresh.Scaler);

        Assert.Equal(masters, fresh.Model.parameters());
        Assert.Equal(Snapshots.Values(trained.Model.call(data.X)), Snapshots.Values(fresh.Model.call(data.X)));
        Assert.NotEqual(freshOutput, Snapshots.Values(fresh.Model.call(data.X)));
    }

    public static TheoryData<string> Damages() => new(DamagedFiles.Keys);

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_or_mismatched_file_throws_and_changes_nothing(string damage)
    {
        using var scope = NewDisposeScope();
        var (bytes, expected) = DamagedFiles[damage](this, Valid());
        var path = Path.Combine(directory, "damaged.pdslckpt");
        File.WriteAllBytes(path, bytes);
        var target = NewRun(PrecisionKind.Bf16, seed: 3);
        Train(target, 1, 2);
        var before = StateOf(target);

        var error = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(path, target.Model, target.Optimizer, target.Scaler));

        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
        Assert.Equal(before, StateOf(target));
    }

    [Fact]
    public void Numbered_saves_keep_the_newest_and_find_latest_skips_corrupt_and_temporary_files()
    {
        using var scope = NewDisposeScope();
        var run = NewRun(PrecisionKind.Bf16, seed: 1);
        Assert.Null(TrainingCheckpoint.FindLatest(directory));
        Assert.Null(TrainingCheckpoint.FindLatest(Path.Combine(directory, "absent")));

        for (var step = 1; step <= 5; step++)
        {
            Train(run, step, 1);
            var saved = TrainingCheckpoint.SaveNumbered(directory, run.Model, run.Optimizer, run.Scaler, step, keepLast: 2);
            Assert.Equal(Path.Combine(directory, $"checkpoint-{step:D10}.pdslckpt"), saved);
        }

        Assert.Equal(new[] { "checkpoint-0000000004.pdslckpt", "checkpoint-0000000005.pdslckpt" }, FileNames());
        var leftover = Path.Combine(directory, "checkpoint-0000000006.pdslckpt.0123abcd.tmp"); // a killed save
        File.WriteAllBytes(leftover, new byte[] { 1, 2, 3 });
        var newest = File.ReadAllBytes(Path.Combine(directory, "checkpoint-0000000005.pdslckpt"));
        File.WriteAllBytes(Path.Combine(directory, "checkpoint-0000000009.pdslckpt"), newest[..^1]);
        File.WriteAllText(Path.Combine(directory, "checkpoint-latest.pdslckpt"), "not numbered");

        Assert.Equal(Path.Combine(directory, "checkpoint-0000000005.pdslckpt"), TrainingCheckpoint.FindLatest(directory));

        TrainingCheckpoint.SaveNumbered(directory, run.Model, run.Optimizer, run.Scaler, 6, keepLast: 2);
        Assert.Equal(
            new[] { "checkpoint-0000000005.pdslckpt", "checkpoint-0000000006.pdslckpt", "checkpoint-0000000009.pdslckpt", "checkpoint-latest.pdslckpt" },
            FileNames());
        Assert.Equal(Path.Combine(directory, "checkpoint-0000000006.pdslckpt"), TrainingCheckpoint.FindLatest(directory));
    }

    [Fact]
    public void Saving_over_an_existing_checkpoint_replaces_it_and_leaves_no_temporary_file()
    {
        using var scope = NewDisposeScope();
        var run = NewRun(PrecisionKind.Bf16, seed: 1);
        var path = Path.Combine(directory, "same.pdslckpt");
        TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Scaler, 1);
        Train(run, 1, 1);

        TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Scaler, 2);

        Assert.Equal(new[] { "same.pdslckpt" }, FileNames());
        var loaded = NewRun(PrecisionKind.Bf16, seed: 2);
        Assert.Equal(2, TrainingCheckpoint.Load(path, loaded.Model, loaded.Optimizer, loaded.Scaler).Step);
        Assert.Equal(StateOf(run), StateOf(loaded));
    }

    /// <summary>Each damage: the file to load, made from a valid checkpoint or anew, and a fragment its error message must contain.</summary>
    private static readonly Dictionary<string, Func<TrainingCheckpointTests, byte[], (byte[] Bytes, string Expected)>> DamagedFiles = new()
    {
        ["empty"] = (_, valid) => (Array.Empty<byte>(), "too short"),
        ["truncated in the magic"] = (_, valid) => (valid[..5], "too short"),
        ["truncated in the header"] = (_, valid) => (valid[..15], "truncated inside the header"),
        ["truncated after the header"] = (_, valid) => (valid[..40], "truncated: 40 of"),
        ["a header declaring only itself"] = (_, valid) => (WithLength(valid[..20], 20), "no room for the checksum"),
        ["truncated at half"] = (_, valid) => (valid[..(valid.Length / 2)], "truncated"),
        ["truncated by one byte"] = (_, valid) => (valid[..^1], "truncated"),
        ["one byte flipped in the model"] = (_, valid) => (Flip(valid, valid.Length / 2), "checksum mismatch"),
        ["one byte flipped in the checksum"] = (_, valid) => (Flip(valid, valid.Length - 1), "checksum mismatch"),
        ["a byte appended"] = (_, valid) => (valid.Append((byte)0).ToArray(), "where the header says"),
        ["foreign file"] = (t, _) => (Snapshots.Of(t.NewRun(PrecisionKind.Bf16, seed: 1).Model), "not a PrecisionDsl checkpoint"),
        ["wrong magic"] = (_, valid) => (Patch(valid, 7, (byte)'X'), "not a PrecisionDsl checkpoint"),
        ["newer version"] = (_, valid) => (WithVersion(valid, 2), "format version 2 is newer"),
        ["different model shape"] = (t, _) => (t.Valid(new TinyMlp(PrecisionKind.Bf16, outputs: 2)), "does not fit this model"),
        ["different optimizer type"] = (t, _) => (t.Valid(optimizerFor: m => optim.SGD(m.parameters(), 0.1)), "not of a TorchSharp.Modules.Adam"),
        ["optimizer over other parameters"] = (t, _) => (t.Valid(optimizerFor: m => optim.Adam(m.Fc1.parameters(), lr: 0.01)), "does not fit this model"),
    };

    /// <summary>A checkpoint of a trained TinyMlp (or <paramref name="model"/>) with Adam (or <paramref name="optimizerFor"/>).</summary>
    private byte[] Valid(TinyMlp? model = null, Func<TinyMlp, optim.Optimizer>? optimizerFor = null)
    {
        var run = NewRun(PrecisionKind.Bf16, seed: 4, model, optimizerFor);
        Train(run, 1, 3);
        var path = Path.Combine(directory, $"valid-{Guid.NewGuid():N}.pdslckpt");
        TrainingCheckpoint.Save(path, run.Model, run.Optimizer, run.Scaler, 3);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    private static byte[] Flip(byte[] bytes, int index) => Patch(bytes, index, (byte)~bytes[index]);

    private static byte[] Patch(byte[] bytes, int index, byte value)
    {
        var patched = (byte[])bytes.Clone();
        patched[index] = value;
        return patched;
    }

    private static byte[] WithVersion(byte[] bytes, int version)
    {
        var patched = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(patched.AsSpan(8), version);
        return patched;
    }

    private static byte[] WithLength(byte[] bytes, long length)
    {
        var patched = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(patched.AsSpan(12), length);
        return patched;
    }

    private sealed record Run(TinyMlp Model, optim.Optimizer Optimizer, GradScaler Scaler);

    private Run NewRun(PrecisionKind kind, int seed, TinyMlp? model = null, Func<TinyMlp, optim.Optimizer>? optimizerFor = null)
    {
        model = Deterministic.Initialize(model ?? new TinyMlp(kind), seed);
        var optimizer = optimizerFor?.Invoke(model) ?? optim.Adam(model.parameters(), lr: 0.01);
        // Enabled in every precision, so that injected infs skip steps (a disabled scaler does not check),
        // and growing every 3 clean steps, so that a resumed scaler has state worth getting right.
        return new Run(model, optimizer, new GradScaler(initialScale: 1024, growthInterval: 3));
    }

    /// <summary>Steps <paramref name="first"/>.. (1-based), writing +inf into a gradient on the <paramref name="poisoned"/> ones.</summary>
    private TrainStepResult[] Train(Run run, long first, int count, ISet<int>? poisoned = null)
    {
        var results = new TrainStepResult[count];
        for (var i = 0; i < count; i++)
        {
            using var stepScope = NewDisposeScope();
            run.Model.AccumulateGradients(data.X, data.Y, run.Scaler);
            if (poisoned?.Contains((int)first + i) == true)
            {
                using var noGrad = no_grad();
                run.Model.Fc2.weight.grad!.view(-1)[0].fill_(double.PositiveInfinity);
            }

            results[i] = run.Model.ApplyGradients(run.Optimizer, run.Scaler);
        }

        return results;
    }

    /// <summary>Everything a checkpoint restores, comparable by value.</summary>
    private static (string Model, string Optimizer, GradScalerState Scaler) StateOf(Run run) =>
        (Convert.ToHexString(Snapshots.Of(run.Model)), Convert.ToHexString(Snapshots.Of((OptimizerHelper)run.Optimizer)), run.Scaler.GetState());

    private string[] FileNames() => Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
}
