using PrecisionDsl;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

var encoder = new Library.Encoder();
var head = new Head(encoder);
var output = head.call(ones(2, 8));
Console.WriteLine($"output-dtype={output.dtype} shape={string.Join("x", output.shape)}");
Console.WriteLine(Head.PrecisionPlan.ToTable());

// A precision model in the app itself: the generator reaches it through the library's package reference.
[Bf16]
public partial class Head : Module<Tensor, Tensor>
{
    private readonly Library.Encoder encoder;
    private readonly Linear fc = Linear(8, 3);

    public Head(Library.Encoder encoder) : base(nameof(Head))
    {
        this.encoder = encoder;
        RegisterComponents();
    }

    [Forward]
    private Tensor Compute(Tensor x) => fc.call(encoder.call(x));
}
