using System;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>Tests that change <see cref="PrecisionPolicy"/>'s statics run one at a time, in this collection.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PolicyCollection
{
    public const string Name = "Precision policy";
}

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
