using System;
using System.Globalization;

namespace TinyGpt;

public enum PrecisionChoice { Fp32, Bf16, Fp16 }

public enum DeviceChoice { Auto, Cpu, Cuda }

/// <summary>Command-line options of the sample. <see cref="Parse"/> throws <see cref="OptionException"/> naming the bad option.</summary>
public sealed record SampleOptions
{
    public const int DefaultSteps = 900;

    public int Steps { get; init; } = DefaultSteps;

    /// <summary>Null: the model's own mixed precision on the chosen device (fp16 on CUDA, bf16 on CPU).</summary>
    public PrecisionChoice? Precision { get; init; }

    public DeviceChoice Device { get; init; } = DeviceChoice.Auto;

    public bool Compare { get; init; } = true;

    public string OutputFolder { get; init; } = "out/tinygpt";

    public int Seed { get; init; } = 1234;

    /// <summary>Null: no checkpoints. Otherwise the main run saves numbered checkpoints here.</summary>
    public string? CheckpointFolder { get; init; }

    public int CheckpointEvery { get; init; } = DefaultCheckpointEvery;

    public const int DefaultCheckpointEvery = 100;

    /// <summary>Continue the main run from the newest checkpoint in <see cref="CheckpointFolder"/>.</summary>
    public bool Resume { get; init; }

    public bool ShowHelp { get; init; }

    public const string Usage = """
        TinyGpt: a small character-level transformer learns 3-digit addition ("123+989=1112").
        It trains with PrecisionDsl mixed precision, then trains the fp32 reference with the same
        steps and seed, and compares them.

        usage: dotnet run -c Release --project samples/TinyGpt -- [options]

          --steps <n>                    training steps per run (default 900)
          --precision fp32|bf16|fp16     precision of the main run (default: fp16 on CUDA, bf16 on CPU;
                                         fp16 on CPU forces real fp16 with loss scaling)
          --device cpu|cuda|auto         where to train (default auto: CUDA when available)
          --compare on|off               also train the fp32 reference and compare (default on)
          --out <folder>                 report folder: report.md and loss.svg (default out/tinygpt)
          --seed <n>                     seed for weights and data (default 1234)
          --checkpoint <folder>          save the main run's training state there every --checkpoint-every
                                         steps and at the end, keeping the newest 3
          --checkpoint-every <n>         steps between checkpoints (default 100)
          --resume                       continue the main run from the newest checkpoint in --checkpoint
          --help                         show this help

        CUDA needs the CUDA TorchSharp backend: dotnet run -c Release -p:TorchBackend=cuda --project samples/TinyGpt
        On a CPU without native bf16/fp16 instructions the half matrix products run in fp32 kernels on
        half-rounded values; PDSL_CPU_HALF_MATMUL=native forces libtorch's (slow) half kernels.
        """;

    public static SampleOptions Parse(string[] args)
    {
        var options = new SampleOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            switch (name)
            {
                case "--help" or "-h" or "-?":
                    options = options with { ShowHelp = true };
                    break;
                case "--steps":
                    options = options with { Steps = PositiveInt(name, Value(args, ref i)) };
                    break;
                case "--seed":
                    options = options with { Seed = PositiveInt(name, Value(args, ref i)) };
                    break;
                case "--precision":
                    options = options with { Precision = Choice<PrecisionChoice>(name, Value(args, ref i)) };
                    break;
                case "--device":
                    options = options with { Device = Choice<DeviceChoice>(name, Value(args, ref i)) };
                    break;
                case "--compare":
                    options = options with { Compare = OnOff(name, Value(args, ref i)) };
                    break;
                case "--out":
                    options = options with { OutputFolder = Value(args, ref i) };
                    break;
                case "--checkpoint":
                    options = options with { CheckpointFolder = Value(args, ref i) };
                    break;
                case "--checkpoint-every":
                    options = options with { CheckpointEvery = PositiveInt(name, Value(args, ref i)) };
                    break;
                case "--resume":
                    options = options with { Resume = true };
                    break;
                default:
                    throw new OptionException(name, $"unknown option '{name}' (see --help)");
            }
        }
        if (options.Resume && options.CheckpointFolder is null)
            throw new OptionException("--resume", "option '--resume' needs --checkpoint <folder> to resume from");
        return options;
    }

    private static string Value(string[] args, ref int i)
    {
        string name = args[i];
        if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            throw new OptionException(name, $"option '{name}' needs a value (see --help)");
        return args[++i];
    }

    private static int PositiveInt(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed > 0
            ? parsed
            : throw new OptionException(name, $"option '{name}' expects a positive integer, got '{value}'");

    private static bool OnOff(string name, string value) => value.ToLowerInvariant() switch
    {
        "on" => true,
        "off" => false,
        _ => throw new OptionException(name, $"option '{name}' expects on or off, got '{value}'"),
    };

    private static T Choice<T>(string name, string value) where T : struct, Enum =>
        Enum.TryParse(value, ignoreCase: true, out T parsed) && Enum.IsDefined(parsed) && !char.IsDigit(value[0])
            ? parsed
            : throw new OptionException(name,
                $"option '{name}' expects {string.Join("|", Enum.GetNames<T>()).ToLowerInvariant()}, got '{value}'");
}

/// <summary>A command-line error; <see cref="Option"/> is the option at fault.</summary>
public sealed class OptionException(string option, string message) : Exception(message)
{
    public string Option { get; } = option;
}
