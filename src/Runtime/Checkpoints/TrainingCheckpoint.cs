using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace PrecisionDsl;

/// <summary>
/// Saves and restores everything a training run needs to continue bit-identically: the model's
/// parameters and buffers (a precision model's registered parameters are its fp32 masters), the
/// optimizer's state, the <see cref="GradScaler"/>'s state, the step and free-form metadata.
/// </summary>
/// <remarks>
/// <para><b>Never torn.</b> <see cref="Save"/> writes a temporary file in the target directory,
/// flushes it to disk and renames it over the target, so the target is either the previous file or
/// the complete new one. The format carries a version, section lengths and a SHA-256 checksum.</para>
/// <para><b>Validated before applied.</b> <see cref="Load"/> checks the whole file and the optimizer's
/// type first; then it snapshots the model and optimizer in memory, applies the checkpoint, and on any
/// failure (a parameter name, shape or dtype that does not match) restores the snapshot before
/// throwing <see cref="InvalidDataException"/>. The file is checked as a stream; its model and optimizer sections
/// are each held in memory as one array (up to 2 GiB each, as <c>Module.save</c> into memory allows).</para>
/// <para><b>Numbered checkpoints.</b> <see cref="SaveNumbered"/> and <see cref="FindLatest"/> keep a
/// directory of <c>checkpoint-{step:D10}.pdslckpt</c> files, one writer per directory.</para>
/// </remarks>
public static class TrainingCheckpoint
{
    /// <summary>Extension of the files <see cref="SaveNumbered"/> writes.</summary>
    public const string Extension = ".pdslckpt";

    private const string NumberedPrefix = "checkpoint-";
    private const string TemporarySuffix = ".tmp";

    /// <summary>Atomically writes model, optimizer state, scaler state, step and metadata to <paramref name="path"/>.</summary>
    /// <param name="path">The checkpoint file; replaced if it exists. Its directory must exist.</param>
    /// <param name="model">The model; its parameters and buffers are saved with TorchSharp's <c>Module.save</c>.</param>
    /// <param name="optimizer">A TorchSharp optimizer (an <see cref="OptimizerHelper"/>); its type name is recorded.</param>
    /// <param name="scaler">The run's scaler; every field of <see cref="GradScaler.GetState"/> is saved.</param>
    /// <param name="step">The training step the state belongs to; &gt;= 0.</param>
    /// <param name="metadata">Free-form strings returned by <see cref="Load"/> (e.g. the data position or the run's options).</param>
    /// <exception cref="ArgumentException">An argument is null, out of range, or the optimizer cannot save its state.</exception>
    public static void Save(string path, Module model, Optimizer optimizer, GradScaler scaler, long step,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var contents = Capture(model, optimizer, scaler, step, metadata);
        WriteAtomically(Path.GetFullPath(path), contents);
    }

    /// <summary>
    /// Restores a checkpoint written by <see cref="Save"/> into <paramref name="model"/>,
    /// <paramref name="optimizer"/> and <paramref name="scaler"/>, built the same way as the saved ones.
    /// Parameters are overwritten in place, so the optimizer's references stay valid and half shadows
    /// pick up the loaded masters at the next forward.
    /// </summary>
    /// <returns>The saved step and metadata.</returns>
    /// <exception cref="InvalidDataException">
    /// The file is truncated, corrupt, not a checkpoint, of a newer format, or does not fit the objects
    /// (another optimizer type, other parameter names or shapes). Model, optimizer and scaler are left
    /// exactly as they were; the message names the file and the problem.
    /// </exception>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    public static CheckpointInfo Load(string path, Module model, Optimizer optimizer, GradScaler scaler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(model);
        var stateful = Stateful(optimizer);
        ArgumentNullException.ThrowIfNull(scaler);

        CheckpointContents contents;
        using (var file = OpenForReading(path))
        {
            contents = CheckpointFormat.Read(file, path);
        }

        var optimizerType = optimizer.GetType().FullName!;
        if (contents.OptimizerType != optimizerType)
        {
            throw CheckpointFormat.Invalid(path, $"it holds the state of a {contents.OptimizerType}, not of a {optimizerType}");
        }

        try
        {
            new GradScaler().LoadState(contents.Scaler); // validates on a throwaway scaler
        }
        catch (ArgumentException e)
        {
            throw CheckpointFormat.Invalid(path, $"its scaler state is invalid ({e.Message})", e);
        }

        Apply(path, contents, model, stateful);
        scaler.LoadState(contents.Scaler);
        return new CheckpointInfo(contents.Step, contents.Metadata);
    }

    /// <summary>
    /// <see cref="Save"/>s to <c>{directory}/checkpoint-{step:D10}.pdslckpt</c>, then deletes the older
    /// numbered checkpoints beyond the <paramref name="keepLast"/> newest (the new one included) and any
    /// temporary file a killed save left behind. Checkpoints of higher steps than <paramref name="step"/>
    /// (a run that went further before being resumed from an earlier one) are left alone.
    /// </summary>
    /// <returns>The path of the new checkpoint.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="keepLast"/> is less than 1.</exception>
    public static string SaveNumbered(string directory, Module model, Optimizer optimizer, GradScaler scaler, long step,
        int keepLast, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        var contents = Capture(model, optimizer, scaler, step, metadata);
        Directory.CreateDirectory(directory);
        var path = Path.GetFullPath(Path.Combine(directory, NumberedName(step)));
        WriteAtomically(path, contents);

        // Only now that the new checkpoint is in place may older ones go.
        foreach (var (_, old) in Numbered(directory).Where(c => c.Step < step).OrderByDescending(c => c.Step).Skip(keepLast - 1))
        {
            File.Delete(old);
        }

        foreach (var leftover in Directory.EnumerateFiles(directory, NumberedPrefix + "*" + Extension + ".*" + TemporarySuffix))
        {
            File.Delete(leftover);
        }

        return path;
    }

    /// <summary>
    /// The numbered checkpoint of the highest step in <paramref name="directory"/> whose file is intact
    /// (magic, version, length and checksum), skipping corrupt ones and temporary files; null when there
    /// is none or the directory does not exist. Nothing is modified.
    /// </summary>
    public static string? FindLatest(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (!Directory.Exists(directory))
        {
            return null;
        }

        foreach (var (_, path) in Numbered(directory).OrderByDescending(c => c.Step))
        {
            try
            {
                using var file = OpenForReading(path);
                CheckpointFormat.Verify(file, path);
                return path;
            }
            catch (InvalidDataException)
            {
                // A corrupt file is skipped: an older intact one is the newest state that can resume.
            }
        }

        return null;
    }

    private static CheckpointContents Capture(Module model, Optimizer optimizer, GradScaler scaler, long step,
        IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(model);
        var stateful = Stateful(optimizer);
        ArgumentNullException.ThrowIfNull(scaler);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (metadata is not null && metadata.Any(entry => entry.Key is null || entry.Value is null))
        {
            throw new ArgumentException("Metadata keys and values must not be null.", nameof(metadata));
        }

        return new CheckpointContents(step, optimizer.GetType().FullName!, scaler.GetState(),
            metadata ?? new Dictionary<string, string>(), SaveModel(model), SaveOptimizer(stateful));
    }

    private static OptimizerHelper Stateful(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        return optimizer as OptimizerHelper ?? throw new ArgumentException(
            $"{optimizer.GetType().Name} does not derive from OptimizerHelper, so its state cannot be saved.", nameof(optimizer));
    }

    private static FileStream OpenForReading(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);

    /// <summary>Temporary file beside the target, flushed to disk, renamed over the target.</summary>
    private static void WriteAtomically(string path, CheckpointContents contents)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}{TemporarySuffix}";
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                CheckpointFormat.Write(file, contents);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Applies model and optimizer state; on any failure puts back what was there and throws.</summary>
    private static void Apply(string path, CheckpointContents contents, Module model, OptimizerHelper optimizer)
    {
        var modelBefore = SaveModel(model);
        var optimizerBefore = SaveOptimizer(optimizer);
        try
        {
            LoadModel(model, contents.Model);
            LoadOptimizer(optimizer, contents.Optimizer);
        }
        catch (Exception e)
        {
            LoadModel(model, modelBefore);
            LoadOptimizer(optimizer, optimizerBefore);
            throw CheckpointFormat.Invalid(path, $"it does not fit this model and optimizer ({e.Message})", e);
        }
    }

    private static byte[] SaveModel(Module model)
    {
        using var stream = new MemoryStream();
        model.save(stream);
        return stream.ToArray();
    }

    private static byte[] SaveOptimizer(OptimizerHelper optimizer)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            optimizer.save_state_dict(writer);
        }

        return stream.ToArray();
    }

    private static void LoadModel(Module model, byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        model.load(reader, strict: true);
        MixedPrecisionState.MastersChanged(model); // the half shadows refresh at the next forward
        RequireFullyRead(reader, "model");
    }

    private static void LoadOptimizer(OptimizerHelper optimizer, byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        optimizer.load_state_dict(reader);
        RequireFullyRead(reader, "optimizer");
    }

    private static void RequireFullyRead(BinaryReader reader, string section)
    {
        var unread = reader.BaseStream.Length - reader.BaseStream.Position;
        if (unread != 0)
        {
            throw new InvalidDataException($"{unread} bytes of the {section} section were not used");
        }
    }

    private static string NumberedName(long step) =>
        NumberedPrefix + step.ToString("D10", CultureInfo.InvariantCulture) + Extension;

    /// <summary>The directory's numbered checkpoints with their steps; temporary and foreign files are not listed.</summary>
    private static IEnumerable<(long Step, string Path)> Numbered(string directory)
    {
        foreach (var path in Directory.EnumerateFiles(directory, NumberedPrefix + "*" + Extension))
        {
            var digits = Path.GetFileName(path)[NumberedPrefix.Length..^Extension.Length];
            if (digits.All(char.IsAsciiDigit) && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var step))
            {
                yield return (step, path);
            }
        }
    }
}
