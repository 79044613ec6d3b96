using System;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>
/// Runs TorchSharp's CPU ops on one thread for a test and restores the previous count. Long loops over
/// tiny tensors pay only overhead for intra-op threads, and much more of it on a loaded machine.
/// </summary>
internal readonly struct SingleThreadedTorch : IDisposable
{
    private readonly int previous;

    public SingleThreadedTorch()
    {
        previous = get_num_threads();
        set_num_threads(1);
    }

    public void Dispose() => set_num_threads(previous);
}
