using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl
{
    /// <summary>
    /// The matrix products the generated <c>forward</c> routes through the runtime. <c>matmul</c>, <c>mm</c>
    /// and <c>bmm</c> check their operands' shapes first, with a message naming the operands as written (in
    /// TorchSharp 0.107 a shape mismatch in <c>matmul</c> terminates the whole process instead of throwing);
    /// <c>einsum</c> and <c>linear</c> keep TorchSharp's signatures and errors. All of them run widened where
    /// half GEMMs are slow (<see cref="PrecisionPolicy.WidensHalfMatmul"/>): half operands of one dtype are
    /// multiplied in fp32 and the product is rounded back to that dtype — the values of the half kernel's
    /// fp32 accumulation, at fp32 speed.
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
            return Product(left, right, static (a, b) => a.matmul(b));
        }

        /// <summary><c>torch.mm(left, right)</c>: two matrices, after checking their shapes.</summary>
        /// <inheritdoc cref="Matmul" path="/param"/>
        /// <inheritdoc cref="Matmul" path="/exception"/>
        public static Tensor Mm(Tensor left, Tensor right, string leftName = "left", string rightName = "right")
        {
            Check("mm", left, right, leftName, rightName, MmShapeProblem);
            return Product(left, right, static (a, b) => a.mm(b));
        }

        /// <summary><c>torch.bmm(left, right)</c>: two batches of matrices, after checking their shapes.</summary>
        /// <inheritdoc cref="Matmul" path="/param"/>
        /// <inheritdoc cref="Matmul" path="/exception"/>
        public static Tensor Bmm(Tensor left, Tensor right, string leftName = "left", string rightName = "right")
        {
            Check("bmm", left, right, leftName, rightName, BmmShapeProblem);
            return Product(left, right, static (a, b) => a.bmm(b));
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

            return Widens(tensors) ? Widened(tensors, wide => einsum(equation, wide)) : einsum(equation, tensors);
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
            Tensor[] operands = bias is null ? [input, weights] : [input, weights, bias];
            return Widens(operands)
                ? Widened(operands, wide => nn.functional.linear(wide[0], wide[1], wide.Length > 2 ? wide[2] : null))
                : nn.functional.linear(input, weights, bias);
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

        private static Tensor Product(Tensor left, Tensor right, Func<Tensor, Tensor, Tensor> product) =>
            Widens([left, right]) ? Widened([left, right], wide => product(wide[0], wide[1])) : product(left, right);

        /// <summary>True when the operands share one half dtype whose products are widened on their device.</summary>
        private static bool Widens(Tensor[] operands) =>
            operands.Length > 0 && operands.All(o => o.dtype == operands[0].dtype)
            && PrecisionPolicy.WidensHalfMatmul(operands[0].dtype, operands[0].device_type);

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
}
