using System.IO;
using System.Linq;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>Byte-exact snapshots, for "bit-identical" assertions.</summary>
internal static class Snapshots
{
    public static byte[] Of(Module module)
    {
        using var stream = new MemoryStream();
        module.save(stream);
        return stream.ToArray();
    }

    public static byte[] Of(OptimizerHelper optimizer)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        optimizer.save_state_dict(writer);
        writer.Flush();
        return stream.ToArray();
    }

    /// <summary>
    /// Address of the tensor's first element. TorchSharp 0.107 exposes it only through a dtype-converting
    /// storage view, so the native entry point is called directly.
    /// </summary>
    public static long DataPointer(Tensor tensor) =>
        (long)(nint)DataEntryPoint.Invoke(null, new object[] { tensor.Handle })!;

    private static readonly System.Reflection.MethodInfo DataEntryPoint =
        typeof(Tensor).Assembly.GetType("TorchSharp.PInvoke.NativeMethods")!
            .GetMethod("THSTensor_data", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!;

    public static float[] Values(Tensor tensor) => tensor.detach().to(ScalarType.Float32).cpu().data<float>().ToArray();
}
