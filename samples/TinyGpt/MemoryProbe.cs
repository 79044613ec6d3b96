using System;
using System.Globalization;
using System.IO;
using TorchSharp;

namespace TinyGpt;

/// <summary>
/// Peak resident memory of this process. On Linux the kernel's high-water mark (VmHWM) is reset
/// between runs through /proc/self/clear_refs, so each run's peak is its own. Native tensor memory
/// (libtorch's allocator) is invisible to the GC, hence RSS rather than GC numbers.
/// </summary>
public static class MemoryProbe
{
    /// <summary>Resets the peak to the current resident size; false where the OS does not support it.</summary>
    public static bool ResetPeak()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Resident size once the garbage collector has run and finalizers have finished: between collections the GC's
    /// young generation alone moves RSS by tens of MB, which would read as growth.
    /// </summary>
    public static long SettledResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return CurrentResidentBytes();
    }

    /// <summary>
    /// Tensors created on this thread and not yet disposed or finalized (TorchSharp's own count): exact, where RSS also
    /// moves with the allocators' pools.
    /// </summary>
    public static long LiveTensors() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    public static long PeakResidentBytes() => ReadStatusKilobytes("VmHWM:") * 1024 is var bytes && bytes > 0
        ? bytes
        : Environment.WorkingSet;

    public static long CurrentResidentBytes() => ReadStatusKilobytes("VmRSS:") * 1024 is var bytes && bytes > 0
        ? bytes
        : Environment.WorkingSet;

    private static long ReadStatusKilobytes(string key)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
                string number = line[key.Length..].Trim().Split(' ')[0];
                return long.Parse(number, CultureInfo.InvariantCulture);
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
