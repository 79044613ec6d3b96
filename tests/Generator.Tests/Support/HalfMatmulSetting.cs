using System;

namespace PrecisionDsl.Generator.Tests.Support
{
    /// <summary>Sets <see cref="PrecisionPolicy.CpuHalfMatmul"/> for a test and restores the previous value on dispose.</summary>
    internal readonly struct HalfMatmulSetting : IDisposable
    {
        private readonly HalfMatmulKernel previous;

        public HalfMatmulSetting(HalfMatmulKernel kernel)
        {
            previous = PrecisionPolicy.CpuHalfMatmul;
            PrecisionPolicy.CpuHalfMatmul = kernel;
        }

        public void Dispose() => PrecisionPolicy.CpuHalfMatmul = previous;
    }
}
