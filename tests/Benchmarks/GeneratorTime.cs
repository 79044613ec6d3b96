using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator;
using TorchSharp;

namespace PrecisionDsl.Benchmarks;

/// <summary>
/// The generator over a compilation of 200 precision models: a cold run (new driver), and the
/// incremental run an IDE does after a one-line edit inside one model's forward.
/// </summary>
[Config(typeof(ShortJobConfig))]
public class GeneratorTime
{
    public const int ModelCount = 200;
    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);
    private CSharpCompilation baseline = null!;
    private SyntaxTree editedTree = null!;
    private CSharpCompilation compilation = null!;
    private CSharpCompilation edited = null!;
    private GeneratorDriver warmDriver = null!;

    [GlobalSetup]
    public void Setup()
    {
        var references = Basic.Reference.Assemblies.Net100.References.All.Cast<MetadataReference>()
            .Append(MetadataReference.CreateFromFile(typeof(torch).Assembly.Location))
            .Append(MetadataReference.CreateFromFile(typeof(Precision).Assembly.Location));
        var trees = Enumerable.Range(0, ModelCount)
            .Select(i => CSharpSyntaxTree.ParseText(ModelSource(i, edit: false), ParseOptions, $"Model{i}.cs"))
            .ToArray();
        baseline = CSharpCompilation.Create("Models", trees, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        editedTree = trees[ModelCount / 2].WithChangedText(SourceText.From(ModelSource(ModelCount / 2, edit: true)));
    }

    // Clone drops the symbols and binding caches, so every measured run binds the models afresh, as a build does.
    [IterationSetup(Target = nameof(Cold))]
    public void FreshCompilation() => compilation = baseline.Clone();

    // The IDE case: the driver has run on the compilation before the edit; the edit makes a new compilation.
    [IterationSetup(Target = nameof(AfterOneLineEdit))]
    public void WarmDriverThenEdit()
    {
        var before = baseline.Clone();
        warmDriver = NewDriver().RunGenerators(before);
        edited = before.ReplaceSyntaxTree(before.SyntaxTrees.Single(tree => tree.FilePath == editedTree.FilePath), editedTree);
    }

    [Benchmark(Baseline = true, Description = "200 models, cold")]
    public int Cold() => GeneratedFileCount(NewDriver().RunGenerators(compilation));

    [Benchmark(Description = "200 models, after a one-line edit")]
    public int AfterOneLineEdit() => GeneratedFileCount(warmDriver.RunGenerators(edited));

    private static int GeneratedFileCount(GeneratorDriver driver) => driver.GetRunResult().GeneratedTrees.Length;

    private static GeneratorDriver NewDriver() => CSharpGeneratorDriver.Create(
        new[] { new PrecisionGenerator().AsSourceGenerator() }, parseOptions: ParseOptions);

    /// <summary>A model with a half default, a fp32 norm, a half-list matmul and an fp32-list softmax; the edit changes one line of its forward.</summary>
    public static string ModelSource(int index, bool edit) => string.Create(CultureInfo.InvariantCulture, $$"""
        using PrecisionDsl;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        namespace Zoo
        {
            [Fp16]
            public partial class Model{{index}} : Module<Tensor, Tensor>
            {
                private readonly Linear input = Linear({{64 + index}}, 128);
                [KeepFp32] private readonly LayerNorm norm = LayerNorm(128);
                private readonly Linear output = Linear(128, 10);

                public Model{{index}}() : base("Model{{index}}") => RegisterComponents();

                [Forward]
                private Tensor Compute(Tensor x)
                {
                    var hidden = functional.relu(input.call(x));
                    var mixed = {{(edit ? "functional.gelu(norm.call(hidden))" : "norm.call(hidden)")}};
                    var attention = functional.softmax(mixed.matmul(mixed.transpose(0, 1)), -1);
                    return output.call(attention.matmul(mixed));
                }

                [LossScaled]
                private Tensor Loss(Tensor logits, Tensor target) => functional.cross_entropy(logits, target);
            }
        }
        """);
}
