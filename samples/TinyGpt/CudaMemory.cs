using System;
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

    // The soname differs by CUDA version; python torch's wheels and TorchSharp-cuda-linux both put one on the search path.
    private static readonly string[] Libraries = ["libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"];

    private static readonly Lazy<MemGetInfo?> memGetInfo = new(Load);

    /// <summary>Bytes in use on the current device, or null when the CUDA runtime cannot be loaded or fails.</summary>
    public static long? UsedBytes() =>
        memGetInfo.Value is { } query && query(out nuint free, out nuint total) == 0 ? (long)(total - free) : null;

    private static MemGetInfo? Load()
    {
        foreach (string library in Libraries)
        {
            if (NativeLibrary.TryLoad(library, out nint handle) && NativeLibrary.TryGetExport(handle, "cudaMemGetInfo", out nint address))
                return Marshal.GetDelegateForFunctionPointer<MemGetInfo>(address);
        }
        return null;
    }
}
