using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace PrecisionDsl;

/// <summary>A checkpoint's parts, decoded and integrity-checked but not yet applied to any object.</summary>
internal sealed record CheckpointContents(
    long Step,
    string OptimizerType,
    GradScalerState Scaler,
    IReadOnlyDictionary<string, string> Metadata,
    byte[] Model,
    byte[] Optimizer);

/// <summary>
/// The file layout, little-endian: magic <c>PDSLCKPT</c>, int32 format version, int64 total file length,
/// then three sections each prefixed by its int64 length — training state (step, optimizer type,
/// scaler state, metadata), model (TorchSharp <c>Module.save</c>), optimizer
/// (<c>OptimizerHelper.save_state_dict</c>) — and last the SHA-256 of every byte before it.
/// </summary>
internal static class CheckpointFormat
{
    public const int Version = 1;

    private const int HeaderLength = 8 + sizeof(int) + sizeof(long);
    private const int ChecksumLength = SHA256.HashSizeInBytes;
    private const int SectionCount = 3;

    private static ReadOnlySpan<byte> Magic => "PDSLCKPT"u8;

    public static void Write(Stream destination, CheckpointContents contents)
    {
        var state = EncodeTrainingState(contents);
        long totalLength = HeaderLength + SectionCount * sizeof(long) + state.Length + contents.Model.Length + contents.Optimizer.Length + ChecksumLength;
        using var checksum = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        Span<byte> header = stackalloc byte[HeaderLength];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], totalLength);
        Put(header);
        Span<byte> length = stackalloc byte[sizeof(long)];
        foreach (var section in new[] { state, contents.Model, contents.Optimizer })
        {
            BinaryPrimitives.WriteInt64LittleEndian(length, section.Length);
            Put(length);
            Put(section);
        }

        destination.Write(checksum.GetHashAndReset());

        void Put(ReadOnlySpan<byte> bytes)
        {
            destination.Write(bytes);
            checksum.AppendData(bytes);
        }
    }

    /// <summary>Checks magic, version, length, checksum and section bounds, in that order, then decodes.</summary>
    /// <param name="file">A seekable stream over the whole file; read from its start.</param>
    /// <param name="path">The file's path, for the messages.</param>
    /// <exception cref="InvalidDataException">The bytes are not a complete checkpoint of this format; the message names <paramref name="path"/>.</exception>
    public static CheckpointContents Read(Stream file, string path)
    {
        Verify(file, path);
        file.Position = HeaderLength;
        long bodyEnd = file.Length - ChecksumLength;
        var state = NextSection(file, bodyEnd, "training state", path);
        var model = NextSection(file, bodyEnd, "model", path);
        var optimizer = NextSection(file, bodyEnd, "optimizer", path);
        if (file.Position != bodyEnd)
        {
            throw Invalid(path, $"{bodyEnd - file.Position} unexpected bytes after the last section");
        }

        return DecodeTrainingState(state, model, optimizer, path);
    }

    /// <summary>
    /// Checks magic, version, length and checksum, in that order, streaming the file through the hash in blocks: no
    /// copy of it is held, whatever its size.
    /// </summary>
    /// <exception cref="InvalidDataException">As <see cref="Read"/>.</exception>
    public static void Verify(Stream file, string path)
    {
        long length = file.Length;
        file.Position = 0;
        Span<byte> header = stackalloc byte[HeaderLength];
        int headerRead = file.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false);
        if (headerRead < Magic.Length || !header[..Magic.Length].SequenceEqual(Magic))
        {
            throw Invalid(path, length < Magic.Length
                ? $"it is {length} bytes long, too short to be a checkpoint"
                : "it does not start with the PDSLCKPT magic: not a PrecisionDsl checkpoint");
        }

        if (headerRead < HeaderLength)
        {
            throw Invalid(path, $"truncated inside the header ({length} bytes)");
        }

        var version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != Version)
        {
            throw Invalid(path, version > Version
                ? $"format version {version} is newer than the version {Version} this PrecisionDsl reads; update PrecisionDsl"
                : $"unknown format version {version}");
        }

        var declaredLength = BinaryPrimitives.ReadInt64LittleEndian(header[12..]);
        if (declaredLength != length)
        {
            throw Invalid(path, declaredLength > length
                ? $"truncated: {length} of {declaredLength} bytes"
                : $"{length} bytes where the header says {declaredLength}");
        }

        if (length < HeaderLength + ChecksumLength)
        {
            throw Invalid(path, $"{length} bytes leave no room for the checksum");
        }

        using var checksum = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        checksum.AppendData(header);
        var block = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            for (long left = length - HeaderLength - ChecksumLength; left > 0;)
            {
                int read = file.Read(block, 0, (int)Math.Min(block.Length, left));
                if (read == 0)
                {
                    throw Invalid(path, "the file shrank while it was read");
                }

                checksum.AppendData(block, 0, read);
                left -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }

        Span<byte> stored = stackalloc byte[ChecksumLength];
        file.ReadExactly(stored);
        if (!checksum.GetHashAndReset().AsSpan().SequenceEqual(stored))
        {
            throw Invalid(path, "checksum mismatch: the content is corrupt");
        }
    }

    public static InvalidDataException Invalid(string path, string problem, Exception? inner = null) =>
        new($"Checkpoint '{path}' cannot be loaded: {problem}.", inner);

    private static byte[] NextSection(Stream file, long bodyEnd, string name, string path)
    {
        Span<byte> prefix = stackalloc byte[sizeof(long)];
        if (bodyEnd - file.Position < prefix.Length)
        {
            throw Invalid(path, $"the {name} section is missing");
        }

        file.ReadExactly(prefix);
        var length = BinaryPrimitives.ReadInt64LittleEndian(prefix);
        long remaining = bodyEnd - file.Position;
        if (length < 0 || length > remaining)
        {
            throw Invalid(path, $"the {name} section claims {length} bytes, {remaining} remain");
        }

        if (length > Array.MaxLength)
        {
            throw Invalid(path, $"the {name} section is {length} bytes, more than one array holds");
        }

        var section = new byte[length];
        file.ReadExactly(section);
        return section;
    }

    private static byte[] EncodeTrainingState(CheckpointContents contents)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(contents.Step);
            writer.Write(contents.OptimizerType);
            var s = contents.Scaler;
            writer.Write(s.Scale);
            writer.Write(s.GrowthTracker);
            writer.Write(s.HysteresisLeft);
            writer.Write(s.SkippedSteps);
            writer.Write(s.InitialScale);
            writer.Write(s.GrowthFactor);
            writer.Write(s.BackoffFactor);
            writer.Write(s.GrowthInterval);
            writer.Write(s.Hysteresis);
            writer.Write(s.MinScale);
            writer.Write(s.MaxScale);
            writer.Write(s.Enabled);
            writer.Write(s.SkippedStepsAtMinScale);
            writer.Write(s.MaxSkippedStepsAtMinScale);
            writer.Write(contents.Metadata.Count);
            foreach (var (key, value) in contents.Metadata)
            {
                writer.Write(key);
                writer.Write(value);
            }
        }

        return stream.ToArray();
    }

    private static CheckpointContents DecodeTrainingState(byte[] state, byte[] model, byte[] optimizer, string path)
    {
        // The checksum matched, so a malformed section means the writer was not this format's.
        try
        {
            using var reader = new BinaryReader(new MemoryStream(state), Encoding.UTF8);
            var step = reader.ReadInt64();
            var optimizerType = reader.ReadString();
            var scaler = new GradScalerState(
                Scale: reader.ReadDouble(), GrowthTracker: reader.ReadInt32(), HysteresisLeft: reader.ReadInt32(),
                SkippedSteps: reader.ReadInt64(), InitialScale: reader.ReadDouble(), GrowthFactor: reader.ReadDouble(),
                BackoffFactor: reader.ReadDouble(), GrowthInterval: reader.ReadInt32(), Hysteresis: reader.ReadInt32(),
                MinScale: reader.ReadDouble(), MaxScale: reader.ReadDouble(), Enabled: reader.ReadBoolean(),
                SkippedStepsAtMinScale: reader.ReadInt32(), MaxSkippedStepsAtMinScale: reader.ReadInt32());
            var count = reader.ReadInt32();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                metadata.Add(reader.ReadString(), reader.ReadString());
            }

            if (reader.BaseStream.Position != state.Length)
            {
                throw Invalid(path, "the training state section has unread bytes");
            }

            if (step < 0)
            {
                throw Invalid(path, $"negative step {step}");
            }

            return new CheckpointContents(step, optimizerType, scaler, metadata, model, optimizer);
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or ArgumentException)
        {
            throw Invalid(path, "the training state section is malformed", e);
        }
    }
}
