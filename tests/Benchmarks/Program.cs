using System;
using BenchmarkDotNet.Running;
using PrecisionDsl.Benchmarks;
using PrecisionDsl.Benchmarks.Anchors;

// "memory" prints the CPU peak-memory table (each variant in a child process); "interleaved" the mixed/fp32 step-time
// table measured in one process (InterleavedSteps); "anchor" and "device-memory" run the PyTorch anchors' workloads
// (eng/cuda-bundle, --device cuda|cpu) and "compare FILE..." joins both sides' JSON lines into tables; anything else
// goes to BenchmarkDotNet, e.g. --filter '*MlpStep*'.
try
{
    return args switch
    {
        ["memory"] => MemoryProbe.RunAll(),
        ["interleaved"] => InterleavedSteps.Run(),
        ["interleaved", var rounds] => InterleavedSteps.Run(int.Parse(rounds, System.Globalization.CultureInfo.InvariantCulture)),
        ["memory-child", var variant] => MemoryProbe.RunChild(variant),
        ["anchor", .. var options] => AnchorSteps.Run(AnchorOptions.Parse(options), Console.Out, Console.Error),
        ["device-memory", .. var options] => DeviceMemory.RunAll(AnchorOptions.Parse(options), Console.Out, Console.Error),
        ["device-memory-child", var model, var variant, .. var options] => DeviceMemory.RunChild(model, variant, AnchorOptions.Parse(options), Console.Out),
        ["compare", .. var files] => AnchorComparison.Run(files, Console.Out),
        _ => Run(args),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

static int Run(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(MlpStep).Assembly).Run(args);
    return 0;
}
