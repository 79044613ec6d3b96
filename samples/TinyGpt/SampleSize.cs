using System;
using System.Globalization;

namespace TinyGpt;

public enum SizeChoice { Auto, Tiny, Small, Medium, Large }

/// <summary>
/// A model size and the task it learns. Each sequence packs <see cref="ProblemsPerSequence"/> independent
/// fixed-width addition problems, so the context grows with the size while every problem stays learnable;
/// the operands grow too (3 to 6 digits). The structures match the PyTorch anchor's TinyGpt configs
/// (eng/cuda-bundle), whose contexts 11/64/128/256 these approach (11/59/125/251).
/// </summary>
public sealed record SampleSize(
    string Name, int Layers, int Width, int Heads, int BatchSize, int Digits, int ProblemsPerSequence,
    int Steps, double LearningRate)
{
    // Step counts are sized from the H200 step times (BENCHMARKS.md): medium ~1 minute, large ~2.5 minutes for both
    // runs; small for a CPU with native bf16 is a guess (no such machine measured).
    public static readonly SampleSize Tiny = new("tiny", 2, 64, 4, 128, 3, 1, 900, 3e-3);
    public static readonly SampleSize Small = new("small", 4, 256, 4, 128, 4, 4, 400, 1e-3);
    public static readonly SampleSize Medium = new("medium", 6, 512, 8, 64, 5, 7, 1000, 6e-4);
    public static readonly SampleSize Large = new("large", 8, 1024, 16, 32, 6, 12, 800, 3e-4);

    /// <summary>Characters of one problem: two operands, '+', '=' and the answer (one digit longer).</summary>
    public int ProblemLength => 3 * Digits + 3;

    /// <summary>Input positions per sequence: the packed problems without the last character.</summary>
    public int Context => ProblemsPerSequence * ProblemLength - 1;

    public static SampleSize Of(SizeChoice choice) => choice switch
    {
        SizeChoice.Tiny => Tiny,
        SizeChoice.Small => Small,
        SizeChoice.Medium => Medium,
        SizeChoice.Large => Large,
        _ => throw new ArgumentOutOfRangeException(nameof(choice), choice, "a concrete size"),
    };

    /// <summary>
    /// The size the hardware pays for, and why: mixed precision only saves time where half kernels are fast,
    /// and only once the step is compute-bound rather than launch-bound (on an H200 the tiny step is 1.4x
    /// slower mixed, large 3.5x faster).
    /// </summary>
    public static (SampleSize Size, string Reason) Choose(bool cuda, bool cpuNativeHalfLinear) =>
        cuda ? (Large, "CUDA: half kernels are fast and the large step is compute-bound (H200: 3.5x faster mixed)")
        : cpuNativeHalfLinear ? (Small, "this CPU runs half Linear kernels natively (self-test: correct and not slower), so a larger step can gain; small finishes in a few minutes")
        : (Tiny, "this CPU has no fast half kernels (products run widened at about fp32 speed), so a larger model would only take longer");

    /// <summary>Width/heads/batch/layers/context overrides; the context holds as many whole problems as fit.</summary>
    public SampleSize With(int? layers, int? width, int? heads, int? batchSize, int? context)
    {
        int problems = context is { } positions ? Math.Max(1, (positions + 1) / ProblemLength) : ProblemsPerSequence;
        var size = this with
        {
            Layers = layers ?? Layers, Width = width ?? Width, Heads = heads ?? Heads, BatchSize = batchSize ?? BatchSize,
            ProblemsPerSequence = problems,
        };
        if (size.Width % size.Heads != 0)
            throw new ArgumentException($"width {size.Width} is not a multiple of heads {size.Heads}");
        return size == this ? this : size with { Name = Name + " (custom)" };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Layers} layers, width {Width}, {Heads} heads, batch {BatchSize}, context {Context} ({ProblemsPerSequence} x {Digits}-digit addition)");
}
