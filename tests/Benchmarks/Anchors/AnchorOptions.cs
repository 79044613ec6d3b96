using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// Options of the anchor modes, named as in the PyTorch anchors (eng/cuda-bundle/anchor_*.py) so one command line
/// reads the same on both sides: <c>--device cuda|cpu</c> (default: cuda where available), <c>--size large|small</c>
/// (default: large on CUDA, small on CPU), <c>--configs 0,1,2,3</c> (TinyGpt shapes; default all on CUDA, 0 on CPU),
/// <c>--iters</c>/<c>--warmup</c> (default: each workload's, as its PyTorch script), <c>--budget-s</c> (skip the
/// remaining workloads once this many seconds are spent), <c>--models</c> (device-memory: mlp, L2, L4, L6, L8).
/// </summary>
public sealed record AnchorOptions(
    Device Device, bool Large, IReadOnlyList<int> Configs, int? Iterations, int? Warmup, double BudgetSeconds, IReadOnlyList<string>? Models)
{
    public bool OnCuda => Device.type == DeviceType.CUDA;

    /// <summary>The half type an <c>[Fp16]</c> model computes in here: fp16 on CUDA, bf16 on CPU by policy.</summary>
    public string MixedName => PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, Device.type) == ScalarType.Float16 ? "fp16" : "bf16";

    /// <summary>Parses <paramref name="args"/>; an unknown option or a bad value throws <see cref="ArgumentException"/> naming it.</summary>
    public static AnchorOptions Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (!KnownOptions.Contains(name)) throw new ArgumentException($"unknown option '{name}' (known: {string.Join(", ", KnownOptions)})");
            if (i + 1 >= args.Count) throw new ArgumentException($"option '{name}' needs a value");
            values[name] = args[++i];
        }

        var device = values.GetValueOrDefault("--device") switch
        {
            null => cuda.is_available() ? CUDA : CPU,
            "cpu" => CPU,
            "cuda" when cuda.is_available() => CUDA,
            "cuda" => throw new ArgumentException("--device cuda: TorchSharp finds no CUDA device (is libtorch's CUDA build on the library path?)"),
            var other => throw new ArgumentException($"--device '{other}': expected cpu or cuda"),
        };
        bool onCuda = device.type == DeviceType.CUDA;
        bool large = values.GetValueOrDefault("--size") switch
        {
            null => onCuda,
            "large" => true,
            "small" => false,
            var other => throw new ArgumentException($"--size '{other}': expected large or small"),
        };
        var configs = values.TryGetValue("--configs", out var list)
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => Index(c, "--configs", TinyGptShape.All.Count)).ToArray()
            : onCuda ? Enumerable.Range(0, TinyGptShape.All.Count).ToArray() : [0];
        var models = values.TryGetValue("--models", out var names)
            ? names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : null;
        return new AnchorOptions(device, large, configs, Positive(values, "--iters"), Positive(values, "--warmup"),
            values.TryGetValue("--budget-s", out var budget) ? Number(budget, "--budget-s") : double.PositiveInfinity, models);
    }

    /// <summary>The options as arguments again (for the device-memory children).</summary>
    public IEnumerable<string> ToArguments()
    {
        yield return "--device";
        yield return OnCuda ? "cuda" : "cpu";
        yield return "--size";
        yield return Large ? "large" : "small";
    }

    private static readonly string[] KnownOptions = ["--device", "--size", "--configs", "--iters", "--warmup", "--budget-s", "--models"];

    private static int Index(string text, string option, int count) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && index < count
            ? index
            : throw new ArgumentException($"{option}: '{text}' is not a config index (0 to {count - 1})");

    private static int? Positive(Dictionary<string, string> values, string option) =>
        !values.TryGetValue(option, out var text) ? null
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 ? value
        : throw new ArgumentException($"{option}: '{text}' is not a positive integer");

    private static double Number(string text, string option) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0
            ? value
            : throw new ArgumentException($"{option}: '{text}' is not a positive number");
}

/// <summary>The TinyGpt structures of anchor_tinygpt.py's SIZES (config 0 is the sample's tiny size).</summary>
public sealed record TinyGptShape(int Layers, int Width, int Heads, int Batch, int Context)
{
    public const int Vocabulary = 12;

    public static readonly IReadOnlyList<TinyGptShape> All =
        [new(2, 64, 4, 128, 11), new(4, 256, 4, 128, 64), new(6, 512, 8, 64, 128), new(8, 1024, 16, 32, 256)];

    /// <summary>The memory table's name of the shape: L2, L4, L6, L8.</summary>
    public string Id => $"L{Layers}";

    public string Label => $"L{Layers} d{Width} h{Heads} b{Batch} t{Context}";
}
