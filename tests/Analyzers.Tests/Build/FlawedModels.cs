namespace PrecisionDsl.Analyzers.Tests.Build;

/// <summary>
/// Source files of the project <see cref="DotnetBuildTests"/> builds: one model per rule, each flawed exactly
/// once, and one clean model. Each expected diagnostic is located by the first occurrence of its snippet.
/// </summary>
internal static class FlawedModels
{
    public const string Usings = """
        using PrecisionDsl;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        namespace Flawed;

        """;

    public static readonly (string File, string Source)[] Files =
    {
        ("Shape.cs", Usings + """
            // PDSL001 (and PDSL008: it writes forward itself, which a partial model must leave to the generator).
            [Fp16]
            public class NotPartial : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public NotPartial() : base(nameof(NotPartial)) => RegisterComponents();
                public override Tensor forward(Tensor x) => fc.call(x);

                [LossScaled]
                private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
            }

            [Bf16]
            public partial class NotAModule
            {
                private readonly Linear fc = Linear(4, 4);
            }

            [Bf16]
            public partial class Conflicting : Module<Tensor, Tensor>
            {
                [Fp16, KeepFp32] private readonly Linear fc = Linear(4, 4);
                public Conflicting() : base(nameof(Conflicting)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc.call(x);

                [LossScaled]
                private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
            }

            [Bf16]
            public partial class LossReturnsFloat : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public LossReturnsFloat() : base(nameof(LossReturnsFloat)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc.call(x);

                [LossScaled]
                private float Loss(Tensor output, Tensor target) => functional.mse_loss(output, target).item<float>();
            }

            [Bf16]
            public partial class NoForward : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public NoForward() : base(nameof(NoForward)) => RegisterComponents();

                private Tensor Compute(Tensor x) => fc.call(x);
            }
            """),
        ("Numerics.cs", Usings + """
            public sealed class Custom : Module<Tensor, Tensor>
            {
                public Custom() : base(nameof(Custom)) { }
                public override Tensor forward(Tensor x) => x * 2;
            }

            [Fp16]
            public partial class Sensitive : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(8, 8);
                [Fp16] private readonly LayerNorm norm = LayerNorm(8);
                [Bf16] private readonly Custom custom = new Custom();
                public Sensitive() : base(nameof(Sensitive)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => custom.call(norm.call(fc.call(x)));

                [LossScaled]
                private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
            }

            [Fp16]
            public partial class Masked : Module<Tensor, Tensor, Tensor>
            {
                private readonly Linear query = Linear(8, 8);
                public Masked() : base(nameof(Masked)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x, Tensor mask)
                {
                    var scores = torch.matmul(query.call(x), x.transpose(-2, -1));
                    return functional.log_softmax(scores.masked_fill(mask, -1e9), -1);
                }

                [LossScaled]
                private Tensor Loss(Tensor output, Tensor target) => functional.mse_loss(output, target);
            }

            [Bf16]
            public partial class TwoLosses : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public TwoLosses() : base(nameof(TwoLosses)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc.call(x);

                [LossScaled]
                private Tensor Primary(Tensor output, Tensor target) => functional.mse_loss(output, target);

                [LossScaled]
                private Tensor Secondary(Tensor output, Tensor target) => functional.l1_loss(output, target);
            }

            [Bf16]
            public partial class CustomInside : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                private readonly Custom block = new Custom();
                public CustomInside() : base(nameof(CustomInside)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => block.call(fc.call(x));
            }

            [Fp16]
            public partial class NoLossScaling : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public NoLossScaling() : base(nameof(NoLossScaling)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc.call(x.half());
            }
            """),
        ("Clean.cs", Usings + """
            [Fp16]
            public partial class Clean : Module<Tensor, Tensor>
            {
                private readonly Linear fc1 = Linear(8, 16);
                [KeepFp32] private readonly LayerNorm norm = LayerNorm(16, eps: 1e-8);
                private readonly Linear fc2 = Linear(16, 4);
                public Clean() : base(nameof(Clean)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc2.call(functional.relu(norm.call(fc1.call(x))) * 0.5);

                [LossScaled]
                private Tensor Loss(Tensor output, Tensor target) => functional.cross_entropy(output, target);
            }
            """),
    };

    /// <summary>A model that is not partial and leaves forward to the generator: CS0534 would hide every PDSL diagnostic.</summary>
    public static readonly (string File, string Source)[] NotPartialFiles =
    {
        ("Forgotten.cs", Usings + """
            [Bf16]
            public class Forgotten : Module<Tensor, Tensor>
            {
                private readonly Linear fc = Linear(4, 4);
                public Forgotten() : base(nameof(Forgotten)) => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x) => fc.call(x);
            }
            """),
    };

    /// <summary>
    /// Every rule, where it must be reported (file, the snippet its location starts at, severity), and the
    /// member or literal its message must name.
    /// </summary>
    public static readonly (string Id, string File, string Snippet, string Severity, string Names)[] Expected =
    {
        ("PDSL001", "Shape.cs", "NotPartial :", "error", "'NotPartial'"),
        ("PDSL008", "Shape.cs", "NotPartial :", "error", "'NotPartial'"),
        ("PDSL002", "Shape.cs", "NotAModule", "error", "'NotAModule'"),
        ("PDSL003", "Shape.cs", "KeepFp32] private readonly Linear", "error", "'fc'"),
        ("PDSL007", "Shape.cs", "Loss(Tensor output, Tensor target) => functional.mse_loss(output, target).item", "error", "'Loss'"),
        ("PDSL008", "Shape.cs", "NoForward :", "error", "'NoForward'"),
        ("PDSL004", "Numerics.cs", "Fp16] private readonly LayerNorm", "warning", "'norm'"),
        ("PDSL009", "Numerics.cs", "Bf16] private readonly Custom", "warning", "'custom'"),
        ("PDSL005", "Numerics.cs", "-1e9", "warning", "-1e9"),
        ("PDSL010", "Numerics.cs", "log_softmax", "info", "'log_softmax'"),
        ("PDSL006", "Numerics.cs", "Fp16]\npublic partial class NoLossScaling", "warning", "'NoLossScaling'"),
        ("PDSL011", "Numerics.cs", "half()", "warning", "'x.half()'"),
        ("PDSL012", "Numerics.cs", "Primary(", "warning", "'Primary'"),
        ("PDSL012", "Numerics.cs", "Secondary(", "warning", "'Secondary'"),
        ("PDSL015", "Numerics.cs", "block = new Custom()", "info", "'block'"),
    };
}
