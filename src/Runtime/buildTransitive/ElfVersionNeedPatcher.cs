// Compiled twice: by MSBuild's RoslynCodeTaskFactory (PrecisionDsl.targets, as an inline task) and
// by the unit tests. It therefore sticks to APIs that exist on every MSBuild host, .NET Framework too.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace PrecisionDsl.Build;

/// <summary>Outcome of patching one file.</summary>
public enum ElfPatchResult
{
    /// <summary>The version need was strong and is now weak.</summary>
    Patched,
    /// <summary>The version need was already weak; the file was not written.</summary>
    AlreadyWeak,
    /// <summary>The file does not need that version; the file was not written.</summary>
    NotNeeded,
}

/// <summary>
/// Marks one symbol-version requirement (a <c>Vernaux</c> entry of <c>.gnu.version_r</c>) weak,
/// so the dynamic loader accepts a libstdc++ that lacks that version. TorchSharp's
/// <c>libLibTorchSharp.so</c> needs <c>GLIBCXX_3.4.32</c> only for <c>std::ios_base_library_init()</c>,
/// a reference GCC 13 emits but nothing calls; without this, Debian 12 / Ubuntu 22.04 refuse to load it.
/// </summary>
public static class ElfVersionNeedPatcher
{
    private const ushort VerFlagWeak = 0x2;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    /// <summary>Reads where the named version need lives and whether it is weak; null when absent.</summary>
    public static bool? IsWeak(string path, string versionName)
    {
        var bytes = File.ReadAllBytes(path);
        var flagsOffset = FindVernauxFlagsOffset(bytes, versionName, path);
        if (flagsOffset < 0) return null;
        return (ReadU16(bytes, flagsOffset, IsLittleEndian(bytes)) & VerFlagWeak) != 0;
    }

    /// <summary>
    /// Makes <paramref name="versionName"/> a weak need of <paramref name="path"/>. Writes a patched temp
    /// copy beside the file and moves it over the original (so a hard link into the NuGet cache is
    /// broken, never written through), keeping the last-write time so incremental copies stay skipped.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed ELF object; it is left untouched.</exception>
    public static ElfPatchResult MakeVersionNeedWeak(string path, string versionName)
    {
        var bytes = File.ReadAllBytes(path);
        var flagsOffset = FindVernauxFlagsOffset(bytes, versionName, path);
        if (flagsOffset < 0) return ElfPatchResult.NotNeeded;

        var little = IsLittleEndian(bytes);
        var flags = ReadU16(bytes, flagsOffset, little);
        if ((flags & VerFlagWeak) != 0) return ElfPatchResult.AlreadyWeak;
        WriteU16(bytes, flagsOffset, (ushort)(flags | VerFlagWeak), little);

        var lastWrite = File.GetLastWriteTimeUtc(path);
        var temp = path + ".pdsl-tmp";
        try
        {
            File.Copy(path, temp, overwrite: true); // carries the file mode over
            using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Write))
            {
                stream.Position = flagsOffset;
                stream.Write(bytes, flagsOffset, 2);
            }
            File.SetLastWriteTimeUtc(temp, lastWrite);
            File.Replace(temp, path, destinationBackupFileName: null); // a rename: atomic on Linux
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return ElfPatchResult.Patched;
    }

    private static int FindVernauxFlagsOffset(byte[] elf, string versionName, string path)
    {
        if (elf.Length < 52 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"'{path}' is not an ELF file (no ELF magic).");
        var is64 = elf[4] == 2;
        if (elf[4] != 1 && !is64) throw Malformed(path, "unknown ELF class");
        if (elf[5] != 1 && elf[5] != 2) throw Malformed(path, "unknown byte order");
        var little = elf[5] == 1;

        long sectionTable = is64 ? (long)ReadU64(elf, 0x28, little, path) : ReadU32(elf, 0x20, little, path);
        int entrySize = ReadU16(elf, is64 ? 0x3A : 0x2E, little, path);
        int sectionCount = ReadU16(elf, is64 ? 0x3C : 0x30, little, path);
        if (sectionTable <= 0 || sectionCount == 0) return -1;
        if (entrySize < (is64 ? 64 : 40) || sectionTable + (long)entrySize * sectionCount > elf.Length)
            throw Malformed(path, "section header table lies outside the file");

        var sections = new List<(uint Type, long Offset, long Size, uint Link, uint Info)>();
        for (var i = 0; i < sectionCount; i++)
        {
            var at = (int)(sectionTable + (long)i * entrySize);
            sections.Add(is64
                ? (ReadU32(elf, at + 4, little, path), (long)ReadU64(elf, at + 24, little, path), (long)ReadU64(elf, at + 32, little, path), ReadU32(elf, at + 40, little, path), ReadU32(elf, at + 44, little, path))
                : (ReadU32(elf, at + 4, little, path), ReadU32(elf, at + 16, little, path), ReadU32(elf, at + 20, little, path), ReadU32(elf, at + 24, little, path), ReadU32(elf, at + 28, little, path)));
        }

        foreach (var verneed in sections)
        {
            if (verneed.Type != ShtGnuVerneed) continue;
            if (verneed.Link >= sections.Count) throw Malformed(path, "version-need section links to a missing string table");
            var strings = sections[(int)verneed.Link];
            CheckRange(elf, verneed.Offset, verneed.Size, path);
            CheckRange(elf, strings.Offset, strings.Size, path);

            long need = verneed.Offset;
            for (var n = 0; n < verneed.Info; n++)
            {
                int auxCount = ReadU16(elf, need + 2, little, path);
                long aux = need + ReadU32(elf, need + 8, little, path);
                for (var a = 0; a < auxCount; a++)
                {
                    var nameOffset = ReadU32(elf, aux + 8, little, path);
                    if (ReadCString(elf, strings.Offset + nameOffset, strings.Offset + strings.Size, path) == versionName)
                        return checked((int)(aux + 4));
                    var nextAux = ReadU32(elf, aux + 12, little, path);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                var nextNeed = ReadU32(elf, need + 12, little, path);
                if (nextNeed == 0) break;
                need += nextNeed;
            }
        }
        return -1;
    }

    private static InvalidDataException Malformed(string path, string why) =>
        new InvalidDataException($"'{path}' is not a well-formed ELF file: {why}.");

    private static void CheckRange(byte[] elf, long offset, long size, string path)
    {
        if (offset < 0 || size < 0 || offset + size > elf.Length) throw Malformed(path, "a section lies outside the file (truncated?)");
    }

    private static bool IsLittleEndian(byte[] elf) => elf[5] == 1;

    private static ushort ReadU16(byte[] b, long at, bool little, string path)
    {
        CheckRange(b, at, 2, path);
        return ReadU16(b, (int)at, little);
    }

    private static ushort ReadU16(byte[] b, int at, bool little) =>
        little ? (ushort)(b[at] | b[at + 1] << 8) : (ushort)(b[at] << 8 | b[at + 1]);

    private static void WriteU16(byte[] b, int at, ushort value, bool little)
    {
        b[at] = (byte)(little ? value : value >> 8);
        b[at + 1] = (byte)(little ? value >> 8 : value);
    }

    private static uint ReadU32(byte[] b, long at, bool little, string path)
    {
        CheckRange(b, at, 4, path);
        uint v = 0;
        for (var i = 0; i < 4; i++) v |= (uint)b[at + (little ? i : 3 - i)] << (8 * i);
        return v;
    }

    private static ulong ReadU64(byte[] b, long at, bool little, string path)
    {
        CheckRange(b, at, 8, path);
        ulong v = 0;
        for (var i = 0; i < 8; i++) v |= (ulong)b[at + (little ? i : 7 - i)] << (8 * i);
        return v;
    }

    private static string ReadCString(byte[] b, long at, long end, string path)
    {
        var stop = at;
        while (stop < end && b[stop] != 0) stop++;
        if (stop >= end) throw Malformed(path, "unterminated name in the string table");
        return Encoding.ASCII.GetString(b, (int)at, (int)(stop - at));
    }
}

/// <summary>MSBuild task: makes one version need weak in each given ELF file of the build output.</summary>
public sealed class MarkElfVersionNeedWeak : Task
{
    /// <summary>ELF files in the output or publish folder (never the NuGet cache).</summary>
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version need to weaken, e.g. <c>GLIBCXX_3.4.32</c>.</summary>
    [Required] public string VersionName { get; set; } = "";

    /// <inheritdoc />
    public override bool Execute()
    {
        foreach (var file in Files)
        {
            try
            {
                var result = ElfVersionNeedPatcher.MakeVersionNeedWeak(file.ItemSpec, VersionName);
                if (result == ElfPatchResult.Patched)
                    Log.LogMessage(MessageImportance.Normal, $"PrecisionDsl: marked {VersionName} weak in {file.ItemSpec} so it loads with an older libstdc++.");
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                Log.LogError($"PrecisionDsl: could not patch '{file.ItemSpec}' for libstdc++ compatibility: {e.Message} (set PrecisionDslPatchNativeLibraries=false to skip)");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
