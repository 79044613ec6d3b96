using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using PrecisionDsl.Build;
using Xunit;

namespace PrecisionDsl.Runtime.Tests.Build;

public sealed class ElfVersionNeedPatcherTests : IDisposable
{
    private const string Needed = "GLIBCXX_3.4.32";
    private readonly string _dir = Directory.CreateTempSubdirectory("pdsl-elf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string existing, string newPath);

    /// <summary>The unpatched library exactly as TorchSharp ships it, read from the NuGet cache (never written).</summary>
    private static string PristineLibTorchSharp()
    {
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"TorchSharp's native library not found at {path}");
        return path;
    }

    private string CopyToScratch(string source, string name = "libLibTorchSharp.so")
    {
        var target = Path.Combine(_dir, name);
        File.Copy(source, target);
        return target;
    }

    [Fact]
    public void Patching_changes_exactly_the_flag_bytes_of_that_version_need()
    {
        var pristine = PristineLibTorchSharp();
        var copy = CopyToScratch(pristine);
        Assert.False(ElfVersionNeedPatcher.IsWeak(copy, Needed));

        Assert.Equal(ElfPatchResult.Patched, ElfVersionNeedPatcher.MakeVersionNeedWeak(copy, Needed));

        var before = File.ReadAllBytes(pristine);
        var after = File.ReadAllBytes(copy);
        Assert.Equal(before.Length, after.Length);
        var changed = Enumerable.Range(0, before.Length).Where(i => before[i] != after[i]).ToArray();
        var only = Assert.Single(changed); // vna_flags is a little-endian u16: VER_FLG_WEAK (0x2) lives in its low byte
        Assert.Equal(before[only] | 0x2, after[only]);
        Assert.True(ElfVersionNeedPatcher.IsWeak(copy, Needed));
    }

    [Fact]
    public void A_second_run_changes_nothing_and_timestamps_are_kept()
    {
        var copy = CopyToScratch(PristineLibTorchSharp());
        var stamp = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(copy, stamp);

        ElfVersionNeedPatcher.MakeVersionNeedWeak(copy, Needed);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(copy));
        var once = File.ReadAllBytes(copy);

        Assert.Equal(ElfPatchResult.AlreadyWeak, ElfVersionNeedPatcher.MakeVersionNeedWeak(copy, Needed));
        Assert.Equal(once, File.ReadAllBytes(copy));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(copy));
    }

    [Fact]
    public void A_hard_link_is_broken_not_written_through()
    {
        var original = CopyToScratch(PristineLibTorchSharp(), "cache-copy.so");
        var linked = Path.Combine(_dir, "libLibTorchSharp.so");
        Assert.Equal(0, link(original, linked));
        var originalBytes = File.ReadAllBytes(original);

        ElfVersionNeedPatcher.MakeVersionNeedWeak(linked, Needed);

        Assert.Equal(originalBytes, File.ReadAllBytes(original));
        Assert.True(ElfVersionNeedPatcher.IsWeak(linked, Needed));
    }

    [Fact]
    public void A_version_the_file_does_not_need_is_left_alone()
    {
        var copy = CopyToScratch(PristineLibTorchSharp());
        var bytes = File.ReadAllBytes(copy);
        Assert.Equal(ElfPatchResult.NotNeeded, ElfVersionNeedPatcher.MakeVersionNeedWeak(copy, "GLIBCXX_99.0"));
        Assert.Equal(bytes, File.ReadAllBytes(copy));
    }

    [Fact]
    public void A_non_elf_file_gets_a_clear_error_and_is_untouched()
    {
        var path = Path.Combine(_dir, "libLibTorchSharp.so");
        File.WriteAllText(path, "this is not a shared library");
        var bytes = File.ReadAllBytes(path);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.MakeVersionNeedWeak(path, Needed));
        Assert.Contains("not an ELF file", error.Message);
        Assert.Contains(path, error.Message);
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(64)]      // header only: the section table lies past the end
    [InlineData(100_000)] // cut in the middle
    public void A_truncated_file_gets_a_clear_error_and_is_untouched(int keep)
    {
        var path = Path.Combine(_dir, "libLibTorchSharp.so");
        File.WriteAllBytes(path, File.ReadAllBytes(PristineLibTorchSharp()).Take(keep).ToArray());
        var bytes = File.ReadAllBytes(path);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.MakeVersionNeedWeak(path, Needed));
        Assert.Contains("not a well-formed ELF file", error.Message);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Empty(Directory.GetFiles(_dir, "*.pdsl-tmp"));
    }

    [Fact]
    public void The_build_output_copy_is_already_patched_by_the_msbuild_target()
    {
        var output = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(output), $"expected TorchSharp's native library in the test output at {output}");
        Assert.True(ElfVersionNeedPatcher.IsWeak(output, Needed));
        Assert.False(ElfVersionNeedPatcher.IsWeak(PristineLibTorchSharp(), Needed)); // the NuGet cache stays pristine
    }
}
