using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl
{
    /// <summary>
    /// Ops the generated <c>forward</c> routes through the runtime. <c>matmul</c> is shape-checked first
    /// (in TorchSharp 0.107 a shape mismatch there terminates the whole process instead of throwing)
    /// and runs widened where half GEMMs are slow (<see cref="PrecisionPolicy.WidensHalfMatmul"/>).
    /// </summary>
    public static class CheckedOps
    {
        /// <summary>
        /// <c>torch.matmul(left, right)</c>, after checking the shapes the way matmul reads them. Two
        /// half operands on a CPU without native half GEMM are multiplied in fp32 and the product is
        /// rounded back to their dtype (same values as the half kernel's fp32 accumulation, fp32 speed).
        /// </summary>
        /// <param name="left">First operand.</param>
        /// <param name="right">Second operand.</param>
        /// <param name="leftName">Source text of the first operand, used in the error message.</param>
        /// <param name="rightName">Source text of the second operand, used in the error message.</param>
        /// <exception cref="ArgumentNullException">An operand or a name is null.</exception>
        /// <exception cref="ArgumentException">The shapes cannot be multiplied; the message names both operands and shapes.</exception>
        public static Tensor Matmul(Tensor left, Tensor right, string leftName = "left", string rightName = "right")
        {
            ArgumentNullException.ThrowIfNull(leftName);
            ArgumentNullException.ThrowIfNull(rightName);
            if (left is null) throw new ArgumentNullException(nameof(left), $"matmul: '{leftName}' is null.");
            if (right is null) throw new ArgumentNullException(nameof(right), $"matmul: '{rightName}' is null.");
            var problem = MatmulShapeProblem(left.shape, right.shape, leftName, rightName);
            if (problem != null)
                throw new ArgumentException(
                    $"matmul: '{leftName}' has shape {Format(left.shape)} and '{rightName}' has shape {Format(right.shape)}: {problem}.",
                    nameof(right));
            if (left.dtype == right.dtype && PrecisionPolicy.WidensHalfMatmul(left.dtype, left.device_type))
            {
                using var wideLeft = left.to(ScalarType.Float32);
                using var wideRight = right.to(ScalarType.Float32);
                using var product = wideLeft.matmul(wideRight);
                return product.to(left.dtype);
            }

            return left.matmul(right);
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

        private static string Format(long[] shape) => "[" + string.Join(", ", shape) + "]";
    }
}
