using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl;

/// <summary>
/// The products and convolutions the generated <c>forward</c> routes through the runtime. <c>matmul</c>,
/// <c>mm</c> and <c>bmm</c> check their operands' shapes first, with a message naming the operands as written
/// (in TorchSharp 0.107 a shape mismatch in <c>matmul</c> terminates the whole process instead of throwing);
/// <c>einsum</c>, <c>linear</c> and the convolutions keep TorchSharp's signatures and errors. All of them run
/// widened where their kernel family's native half kernel is wrong or slow on the device
/// (<see cref="PrecisionPolicy.Widens"/>: inside a generated forward by the model's settings, elsewhere by
/// <see cref="PrecisionPolicy.Current"/>): half operands of one dtype are computed on in fp32 and the result
/// is rounded back to that dtype — the values of a half kernel with fp32 accumulation, at fp32 speed.
/// </summary>
public static class CheckedOps
{
    /// <summary><c>torch.matmul(left, right)</c>, after checking the shapes the way matmul reads them.</summary>
    /// <param name="left">First operand.</param>
    /// <param name="right">Second operand.</param>
    /// <param name="leftName">Source text of the first operand, used in the error message.</param>
    /// <param name="rightName">Source text of the second operand, used in the error message.</param>
    /// <exception cref="ArgumentNullException">An operand or a name is null.</exception>
    /// <exception cref="ArgumentException">The shapes cannot be multiplied; the message names both operands and shapes.</exception>
    public static Tensor Matmul(Tensor left, Tensor right, string leftName = "left", string rightName = "right")
    {
        Check("matmul", left, right, leftName, rightName, MatmulShapeProblem);
        // A matrix (or vector) right operand folds into one mm; a batched one makes matmul a bmm.
        return Product(right.dim() >= 3 ? KernelFamily.Batched : KernelFamily.Linear, left, right, static (a, b) => a.matmul(b));
    }

    /// <summary><c>torch.mm(left, right)</c>: two matrices, after checking their shapes.</summary>
    /// <inheritdoc cref="Matmul" path="/param"/>
    /// <inheritdoc cref="Matmul" path="/exception"/>
    public static Tensor Mm(Tensor left, Tensor right, string leftName = "left", string rightName = "right")
    {
        Check("mm", left, right, leftName, rightName, MmShapeProblem);
        return Product(KernelFamily.Linear, left, right, static (a, b) => a.mm(b));
    }

    /// <summary><c>torch.bmm(left, right)</c>: two batches of matrices, after checking their shapes.</summary>
    /// <inheritdoc cref="Matmul" path="/param"/>
    /// <inheritdoc cref="Matmul" path="/exception"/>
    public static Tensor Bmm(Tensor left, Tensor right, string leftName = "left", string rightName = "right")
    {
        Check("bmm", left, right, leftName, rightName, BmmShapeProblem);
        return Product(KernelFamily.Batched, left, right, static (a, b) => a.bmm(b));
    }

    /// <summary><c>torch.einsum(equation, tensors)</c>.</summary>
    /// <param name="equation">The subscripts, e.g. <c>"bij,bjk->bik"</c>.</param>
    /// <param name="tensors">The operands.</param>
    /// <exception cref="ArgumentNullException">The equation, the operand array or an operand is null.</exception>
    public static Tensor Einsum(string equation, params Tensor[] tensors)
    {
        ArgumentNullException.ThrowIfNull(equation);
        ArgumentNullException.ThrowIfNull(tensors);
        for (var i = 0; i < tensors.Length; i++)
        {
            if (tensors[i] is null) throw new ArgumentNullException(nameof(tensors), $"einsum: operand {i} is null.");
        }

        return Widens(KernelFamily.Batched, tensors) ? Widened(tensors, wide => einsum(equation, wide)) : einsum(equation, tensors);
    }

    /// <summary><c>functional.linear(input, weights, bias)</c>: <c>input · weightsᵀ + bias</c>.</summary>
    /// <param name="input">The input, features last.</param>
    /// <param name="weights">The weights, (out features, in features).</param>
    /// <param name="bias">The bias, or null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="weights"/> is null.</exception>
    public static Tensor Linear(Tensor input, Tensor weights, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weights);
        return WithWeights(KernelFamily.Linear, input, weights, bias, static (x, w, b) => nn.functional.linear(x, w, b));
    }

    /// <summary><c>functional.conv1d</c>, with its parameters.</summary>
    /// <param name="input">The input, (batch, in channels, length).</param>
    /// <param name="weight">The filters, (out channels, in channels / groups, kernel length).</param>
    /// <param name="bias">The bias, or null.</param>
    /// <param name="stride">The stride (default 1).</param>
    /// <param name="padding">The zero padding on both sides (default 0).</param>
    /// <param name="dilation">The spacing between kernel elements (default 1).</param>
    /// <param name="groups">The number of groups the channels are split into.</param>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="weight"/> is null.</exception>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, long? stride = null, long? padding = null, long? dilation = null, long groups = 1) =>
        WithWeights(KernelFamily.Conv1d, input, weight, bias, (x, w, b) => nn.functional.conv1d(x, w, b, stride, padding, dilation, groups));

    /// <summary><c>functional.conv2d</c>, with its parameters.</summary>
    /// <param name="input">The input, (batch, in channels, height, width).</param>
    /// <param name="weight">The filters, (out channels, in channels / groups, kernel height, kernel width).</param>
    /// <param name="bias">The bias, or null.</param>
    /// <param name="strides">The strides (default 1).</param>
    /// <param name="padding">The zero padding per dimension (default 0).</param>
    /// <param name="dilation">The spacing between kernel elements (default 1).</param>
    /// <param name="groups">The number of groups the channels are split into.</param>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="weight"/> is null.</exception>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, long[]? strides = null, long[]? padding = null, long[]? dilation = null, long groups = 1) =>
        WithWeights(KernelFamily.Conv2d, input, weight, bias, (x, w, b) => nn.functional.conv2d(x, w, b, strides, padding, dilation, groups));

    /// <summary><c>functional.conv3d</c>, with its parameters.</summary>
    /// <inheritdoc cref="Conv2d" path="/param"/>
    /// <inheritdoc cref="Conv2d" path="/exception"/>
    public static Tensor Conv3d(Tensor input, Tensor weight, Tensor? bias = null, long[]? strides = null, long[]? padding = null, long[]? dilation = null, long groups = 1) =>
        WithWeights(KernelFamily.Conv3d, input, weight, bias, (x, w, b) => nn.functional.conv3d(x, w, b, strides, padding, dilation, groups));

    /// <summary><c>functional.conv_transpose1d</c>, with its parameters.</summary>
    /// <param name="input">The input, (batch, in channels, length).</param>
    /// <param name="weight">The filters, (in channels, out channels / groups, kernel length).</param>
    /// <param name="bias">The bias, or null.</param>
    /// <param name="stride">The stride (default 1).</param>
    /// <param name="padding">The implicit padding removed from both sides of the output (default 0).</param>
    /// <param name="output_padding">Extra size added to one side of the output (default 0).</param>
    /// <param name="dilation">The spacing between kernel elements (default 1).</param>
    /// <param name="groups">The number of groups the channels are split into.</param>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="weight"/> is null.</exception>
    public static Tensor ConvTranspose1d(Tensor input, Tensor weight, Tensor? bias = null, long? stride = null, long? padding = null, long? output_padding = null, long? dilation = null, long groups = 1) =>
        WithWeights(KernelFamily.ConvTranspose1d, input, weight, bias, (x, w, b) => nn.functional.conv_transpose1d(x, w, b, stride, padding, output_padding, dilation, groups));

    /// <summary><c>functional.conv_transpose2d</c>, with its parameters.</summary>
    /// <param name="input">The input, (batch, in channels, height, width).</param>
    /// <param name="weight">The filters, (in channels, out channels / groups, kernel height, kernel width).</param>
    /// <param name="bias">The bias, or null.</param>
    /// <param name="strides">The strides (default 1).</param>
    /// <param name="padding">The implicit padding removed from both sides of the output per dimension (default 0).</param>
    /// <param name="output_padding">Extra size added to one side of the output per dimension (default 0).</param>
    /// <param name="dilation">The spacing between kernel elements (default 1).</param>
    /// <param name="groups">The number of groups the channels are split into.</param>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="weight"/> is null.</exception>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, long[]? strides = null, long[]? padding = null, long[]? output_padding = null, long[]? dilation = null, long groups = 1) =>
        WithWeights(KernelFamily.ConvTranspose2d, input, weight, bias, (x, w, b) => nn.functional.conv_transpose2d(x, w, b, strides, padding, output_padding, dilation, groups));

    /// <summary><c>functional.conv_transpose3d</c>, with its parameters.</summary>
    /// <inheritdoc cref="ConvTranspose2d" path="/param"/>
    /// <inheritdoc cref="ConvTranspose2d" path="/exception"/>
    public static Tensor ConvTranspose3d(Tensor input, Tensor weight, Tensor? bias = null, long[]? strides = null, long[]? padding = null, long[]? output_padding = null, long[]? dilation = null, long groups = 1) =>
        WithWeights(KernelFamily.ConvTranspose3d, input, weight, bias, (x, w, b) => nn.functional.conv_transpose3d(x, w, b, strides, padding, output_padding, dilation, groups));

    /// <summary>
    /// <c>functional.softmax(input, dim)</c> computed in fp32 (as the op policy asks) with its output stored in
    /// <paramref name="storage"/>: the generated forward calls it where every reader of the softmax casts it to that
    /// dtype. The output equals <c>softmax(input.to(fp32), dim).to(storage)</c>; autograd keeps only that output, and
    /// the backward computes <c>y * (dy - sum(dy * y))</c> in fp32 from it. libtorch's own softmax runs instead where
    /// the input already has dtype <paramref name="storage"/> and a one-time check showed that kernel computes exactly
    /// this on the device (CPU bf16).
    /// </summary>
    /// <param name="input">The scores, any floating dtype.</param>
    /// <param name="dim">The dimension softmax normalizes over.</param>
    /// <param name="storage">The dtype of the result (the readers' half dtype).</param>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="input"/> or <paramref name="storage"/> is not a floating dtype.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dim"/> is not a dimension of <paramref name="input"/>.</exception>
    public static Tensor Softmax(Tensor input, long dim, ScalarType storage)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.is_floating_point()) throw new ArgumentException($"softmax: the input has dtype {input.dtype}; a floating dtype is needed.", nameof(input));
        if (storage is not (ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64)) throw new ArgumentException($"softmax: cannot store the result in {storage}.", nameof(storage));
        return HalfStoredSoftmax.Apply(input, dim, storage);
    }

    /// <summary>An input-weight-bias op, widened where its family's half kernel is.</summary>
    private static Tensor WithWeights(KernelFamily family, Tensor input, Tensor weight, Tensor? bias, Func<Tensor, Tensor, Tensor?, Tensor> op)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        Tensor[] operands = bias is null ? [input, weight] : [input, weight, bias];
        return Widens(family, operands)
            ? Widened(operands, wide => op(wide[0], wide[1], wide.Length > 2 ? wide[2] : null))
            : op(input, weight, bias);
    }

    private static void Check(string op, Tensor left, Tensor right, string leftName, string rightName, Func<long[], long[], string, string, string?> shapeProblem)
    {
        ArgumentNullException.ThrowIfNull(leftName);
        ArgumentNullException.ThrowIfNull(rightName);
        if (left is null) throw new ArgumentNullException(nameof(left), $"{op}: '{leftName}' is null.");
        if (right is null) throw new ArgumentNullException(nameof(right), $"{op}: '{rightName}' is null.");
        var problem = shapeProblem(left.shape, right.shape, leftName, rightName);
        if (problem != null)
            throw new ArgumentException(
                $"{op}: '{leftName}' has shape {Format(left.shape)} and '{rightName}' has shape {Format(right.shape)}: {problem}.",
                nameof(right));
    }

    private static Tensor Product(KernelFamily family, Tensor left, Tensor right, Func<Tensor, Tensor, Tensor> product) =>
        Widens(family, [left, right]) ? Widened([left, right], wide => product(wide[0], wide[1])) : product(left, right);

    /// <summary>True when the operands share one half dtype in which <paramref name="family"/> runs widened on their device.</summary>
    // Each operand's dtype is read once: these reads are calls into libtorch on every product of the forward.
    private static bool Widens(KernelFamily family, Tensor[] operands)
    {
        if (operands.Length == 0)
        {
            return false;
        }

        var dtype = operands[0].dtype;
        return operands.Skip(1).All(o => o.dtype == dtype) && PrecisionPolicy.Widens(family, dtype, operands[0].device_type);
    }

    /// <summary>The product of the operands' fp32 copies, rounded back to their (half) dtype.</summary>
    private static Tensor Widened(Tensor[] operands, Func<Tensor[], Tensor> product)
    {
        var wide = operands.Select(o => o.to(ScalarType.Float32)).ToArray();
        try
        {
            using var result = product(wide);
            return result.to(operands[0].dtype);
        }
        finally
        {
            foreach (var tensor in wide)
            {
                tensor.Dispose();
            }
        }
    }

    private static string? MatmulShapeProblem(long[] a, long[] b, string aName, string bName)
    {
        if (a.Length == 0 || b.Length == 0)
            return "both operands need at least one dimension";

        // matmul contracts a's last dimension with b's second-to-last (or only) dimension.
        var inner = b.Length == 1 ? b[0] : b[b.Length - 2];
        if (a[a.Length - 1] != inner)
            return b.Length == 1
                ? $"the last dimension of '{aName}' ({a[a.Length - 1]}) must equal the length of '{bName}' ({inner})"
                : $"the last dimension of '{aName}' ({a[a.Length - 1]}) must equal the second-to-last dimension of '{bName}' ({inner})";

        // Leading (batch) dimensions broadcast.
        var batchA = a.Length > 2 ? a.Take(a.Length - 2).ToArray() : Array.Empty<long>();
        var batchB = b.Length > 2 ? b.Take(b.Length - 2).ToArray() : Array.Empty<long>();
        for (int i = 1; i <= Math.Min(batchA.Length, batchB.Length); i++)
        {
            long x = batchA[batchA.Length - i], y = batchB[batchB.Length - i];
            if (x != y && x != 1 && y != 1)
                return $"batch dimensions {Format(batchA)} and {Format(batchB)} do not broadcast";
        }
        return null;
    }

    private static string? MmShapeProblem(long[] a, long[] b, string aName, string bName) =>
        a.Length != 2 || b.Length != 2 ? "both operands must be matrices (2-D)"
        : a[1] != b[0] ? $"the second dimension of '{aName}' ({a[1]}) must equal the first dimension of '{bName}' ({b[0]})"
        : null;

    private static string? BmmShapeProblem(long[] a, long[] b, string aName, string bName) =>
        a.Length != 3 || b.Length != 3 ? "both operands must be batches of matrices (3-D)"
        : a[0] != b[0] ? $"the batch sizes of '{aName}' ({a[0]}) and '{bName}' ({b[0]}) differ"
        : a[2] != b[1] ? $"the last dimension of '{aName}' ({a[2]}) must equal the second dimension of '{bName}' ({b[1]})"
        : null;

    private static string Format(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
