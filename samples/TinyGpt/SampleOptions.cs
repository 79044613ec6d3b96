using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Linq;

namespace TinyGpt;

public enum PrecisionChoice { Fp32, Bf16, Fp16 }

public enum DeviceChoice { Auto, Cpu, Cuda }

/// <summary>Command-line options of the sample, read from a System.CommandLine <see cref="ParseResult"/>.</summary>
public sealed record SampleOptions
{
    /// <summary>Auto: chosen from the hardware (<see cref="SampleSize.Choose"/>).</summary>
    public SizeChoice Size { get; init; } = SizeChoice.Auto;

    public int? Layers { get; init; }

    public int? Width { get; init; }

    public int? Heads { get; init; }

    public int? Context { get; init; }

    public int? BatchSize { get; init; }

    /// <summary>Null: the size's own step count.</summary>
    public int? Steps { get; init; }

    /// <summary>Null: the model's own mixed precision on the chosen device (fp16 on CUDA, bf16 on CPU).</summary>
    public PrecisionChoice? Precision { get; init; }

    public DeviceChoice Device { get; init; } = DeviceChoice.Auto;

    public bool Compare { get; init; } = true;

    public string OutputFolder { get; init; } = "out/tinygpt";

    public int Seed { get; init; } = 1234;

    /// <summary>Seeds per precision: <see cref="Seed"/>, <see cref="Seed"/> + 1, ...</summary>
    public int Seeds { get; init; } = 1;

    /// <summary>Null: no checkpoints. Otherwise the main run saves numbered checkpoints here.</summary>
    public string? CheckpointFolder { get; init; }

    public int CheckpointEvery { get; init; } = DefaultCheckpointEvery;

    public const int DefaultCheckpointEvery = 100;

    /// <summary>Continue the main run from the newest checkpoint in <see cref="CheckpointFolder"/>.</summary>
    public bool Resume { get; init; }

    private static readonly Option<SizeChoice> SizeOption = new Option<SizeChoice>("--size")
    {
        Description = "model and task size (default auto: from the hardware, printed with the reason)",
        HelpName = "tiny|small|medium|large|auto",
        DefaultValueFactory = _ => SizeChoice.Auto,
    }.AcceptOnlyFromAmong("tiny", "small", "medium", "large", "auto");
    private static readonly Option<int?> LayersOption = Positive("--layers", "transformer layers (default: the size's)");
    private static readonly Option<int?> WidthOption = Positive("--width", "model width (default: the size's)");
    private static readonly Option<int?> HeadsOption = Positive("--heads", "attention heads, dividing the width (default: the size's)");
    private static readonly Option<int?> ContextOption = Positive("--context", "positions per sequence, filled with as many whole problems as fit (default: the size's)");
    private static readonly Option<int?> BatchOption = Positive("--batch", "sequences per step (default: the size's)");
    private static readonly Option<int?> StepsOption = Positive("--steps", "training steps per run (default: the size's, tiny 900)");
    private static readonly Option<PrecisionChoice?> PrecisionOption = new Option<PrecisionChoice?>("--precision")
    {
        Description = "precision of the main run (default: fp16 + loss scaling on CUDA, bf16 on CPU; fp16 on CPU forces real fp16)",
        HelpName = "fp32|bf16|fp16",
    }.AcceptOnlyFromAmong("fp32", "bf16", "fp16");
    private static readonly Option<DeviceChoice> DeviceOption = new Option<DeviceChoice>("--device")
    {
        Description = "where to train (auto: CUDA when available)",
        HelpName = "cpu|cuda|auto",
        DefaultValueFactory = _ => DeviceChoice.Auto,
    }.AcceptOnlyFromAmong("cpu", "cuda", "auto");
    private static readonly Option<string> CompareOption = new Option<string>("--compare")
    {
        Description = "also train the fp32 reference and compare",
        HelpName = "on|off",
        DefaultValueFactory = _ => "on",
    }.AcceptOnlyFromAmong("on", "off");
    private static readonly Option<string> OutOption = new("--out")
    {
        Description = "report folder: report.md, loss.png, loss.svg",
        DefaultValueFactory = _ => "out/tinygpt",
    };
    private static readonly Option<int?> SeedOption = Positive("--seed", "seed for weights and data (default 1234)");
    private static readonly Option<int?> SeedsOption = Positive("--seeds", "train both precisions for this many seeds (--seed, --seed+1, ...) and report mean and spread (default 1)");
    private static readonly Option<string?> CheckpointOption = new("--checkpoint")
    {
        Description = "save the main run's training state in this folder every --checkpoint-every steps and at the end, keeping the newest 3",
    };
    private static readonly Option<int?> CheckpointEveryOption = Positive("--checkpoint-every", $"steps between checkpoints (default {DefaultCheckpointEvery})");
    private static readonly Option<bool> ResumeOption = new("--resume")
    {
        Description = "continue the main run from the newest checkpoint in --checkpoint (same --seed)",
    };

    /// <summary>The sample's command line; the caller attaches the action.</summary>
    public static RootCommand CreateCommand()
    {
        var command = new RootCommand("""
            TinyGpt: a character-level transformer learns multi-digit addition ("123+989=1112"), trained with
            PrecisionDsl mixed precision and as the plain fp32 reference (same seed, data and steps), and compared.
            CUDA needs the CUDA TorchSharp backend: dotnet run -c Release -p:TorchBackend=cuda --project samples/TinyGpt
            On a CPU without native bf16 the half products run widened (fp32 kernels on half-rounded values) and bf16
            activations stay fp32 (excess precision; PDSL_CPU_EXCESS_PRECISION=off rounds after every half op);
            PDSL_CPU_HALF_MATMUL=native forces libtorch's half kernels.
            """)
        {
            SizeOption, LayersOption, WidthOption, HeadsOption, ContextOption, BatchOption, StepsOption, PrecisionOption,
            DeviceOption, CompareOption, OutOption, SeedOption, SeedsOption, CheckpointOption, CheckpointEveryOption, ResumeOption,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(ResumeOption) && result.GetValue(CheckpointOption) is null)
                result.AddError("Option '--resume' needs --checkpoint <folder> to resume from.");
            // Reads the token: GetValue throws for a value its own parser rejected.
            if (result.GetResult(SeedsOption)?.Tokens is [var seeds] && int.TryParse(seeds.Value, out int count) && count > 1
                && result.GetValue(CheckpointOption) is not null)
                result.AddError("Option '--seeds' trains several runs; use --checkpoint with a single seed.");
        });
        return command;
    }

    public static SampleOptions From(ParseResult result) => new()
    {
        Size = result.GetValue(SizeOption),
        Layers = result.GetValue(LayersOption),
        Width = result.GetValue(WidthOption),
        Heads = result.GetValue(HeadsOption),
        Context = result.GetValue(ContextOption),
        BatchSize = result.GetValue(BatchOption),
        Steps = result.GetValue(StepsOption),
        Precision = result.GetValue(PrecisionOption),
        Device = result.GetValue(DeviceOption),
        Compare = result.GetValue(CompareOption) == "on",
        OutputFolder = result.GetValue(OutOption)!,
        Seed = result.GetValue(SeedOption) ?? 1234,
        Seeds = result.GetValue(SeedsOption) ?? 1,
        CheckpointFolder = result.GetValue(CheckpointOption),
        CheckpointEvery = result.GetValue(CheckpointEveryOption) ?? DefaultCheckpointEvery,
        Resume = result.GetValue(ResumeOption),
    };

    private static Option<int?> Positive(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => int.TryParse(result.Tokens.Single().Value, System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : Fail<int?>(result, $"Option '{name}' expects a positive integer, got '{result.Tokens.Single().Value}'."),
    };

    private static T Fail<T>(ArgumentResult result, string message)
    {
        result.AddError(message);
        return default!;
    }
}
