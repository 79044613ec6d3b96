using System;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>Sets the CPU Fp16 dtype for a test and restores it afterwards.</summary>
internal readonly struct CpuFp16Override : IDisposable
{
    private readonly ScalarType previous;

    public CpuFp16Override(ScalarType dtype)
    {
        previous = PrecisionPolicy.CpuFp16Dtype;
        PrecisionPolicy.CpuFp16Dtype = dtype;
    }

    public void Dispose() => PrecisionPolicy.CpuFp16Dtype = previous;
}
