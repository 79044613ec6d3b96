using BenchmarkDotNet.Running;
using PrecisionDsl.Benchmarks;

// "memory" prints the peak-memory table (each variant in a child process); "interleaved" the mixed/fp32 step-time
// table measured in one process (InterleavedSteps); anything else goes to BenchmarkDotNet, e.g. --filter '*MlpStep*'.
return args switch
{
    ["memory"] => MemoryProbe.RunAll(),
    ["interleaved"] => InterleavedSteps.Run(),
    ["interleaved", var rounds] => InterleavedSteps.Run(int.Parse(rounds, System.Globalization.CultureInfo.InvariantCulture)),
    ["memory-child", var variant] => MemoryProbe.RunChild(variant),
    _ => Run(args),
};

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(MlpStep).Assembly).Run(args);
    return 0;
}
