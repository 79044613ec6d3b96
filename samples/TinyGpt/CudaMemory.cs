using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace TinyGpt;

/// <summary>
/// Device memory in use, from the CUDA runtime's <c>cudaMemGetInfo</c> (TorchSharp 0.107 exposes no allocator
/// statistics). It counts the whole device: the CUDA context, libtorch's caching allocator (which keeps freed
/// blocks, so the figure after a step is the reserved peak) and other processes. libcudart is loaded on first
/// use, which only CUDA runs make; a CPU run never touches it.
/// </summary>
public static class CudaMemory
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MemGetInfo(out nuint free, out nuint total);

    // Sonames by CUDA version, for a runtime on the search path (python torch's wheels put one there).
    private static readonly string[] Sonames = ["libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"];

    private static readonly Lazy<MemGetInfo?> memGetInfo = new(Load);

    /// <summary>Bytes in use on the current device, or null when the CUDA runtime cannot be loaded or fails.</summary>
    public static long? UsedBytes() =>
        memGetInfo.Value is { } query && query(out nuint free, out nuint total) == 0 ? (long)(total - free) : null;

    // The runtime libtorch already loaded comes first: TorchSharp-cuda-linux ships it under a hashed name
    // (libcudart-<hash>.so.12) that no soname finds, and it is the one whose context the training uses. A library
    // whose call fails (e.g. a runtime newer than the driver) is passed over for the next.
    private static MemGetInfo? Load()
    {
        foreach (string library in LoadedCudaRuntimes().Concat(Sonames))
        {
            if (NativeLibrary.TryLoad(library, out nint handle) && NativeLibrary.TryGetExport(handle, "cudaMemGetInfo", out nint address))
            {
                var query = Marshal.GetDelegateForFunctionPointer<MemGetInfo>(address);
                if (query(out _, out _) == 0)
                    return query;
            }
        }
        return null;
    }

    private static IEnumerable<string> LoadedCudaRuntimes()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps))
            return [];
        return File.ReadLines(maps)
            .Select(line => line.IndexOf('/') is int start and >= 0 ? line[start..] : "")
            .Where(path => Path.GetFileName(path).StartsWith("libcudart", StringComparison.Ordinal))
            .Distinct()
            .ToList();
    }
}
