namespace PrecisionDsl;

/// <summary>
/// Groups of half-precision kernels that libtorch runs through one implementation on a CPU, so one
/// self-test decides for the whole group whether its native kernel may be used
/// (<see cref="PrecisionPolicy.KernelChoices"/>).
/// </summary>
public enum KernelFamily
{
    /// <summary>Linear layers, <c>functional.linear</c>, <c>matmul</c>, <c>mm</c>: GEMMs in the NT (forward), NN and TN (backward) layouts.</summary>
    Linear,

    /// <summary><c>bmm</c>, <c>einsum</c> and <c>matmul</c> with a batched right operand: batched GEMMs.</summary>
    Batched,

    /// <summary>Conv1d layers and <c>functional.conv1d</c>, forward and both backward convolutions.</summary>
    Conv1d,

    /// <summary>Conv2d layers and <c>functional.conv2d</c>, forward and both backward convolutions.</summary>
    Conv2d,

    /// <summary>Conv3d layers and <c>functional.conv3d</c>, forward and both backward convolutions.</summary>
    Conv3d,

    /// <summary>ConvTranspose1d layers and <c>functional.conv_transpose1d</c>.</summary>
    ConvTranspose1d,

    /// <summary>ConvTranspose2d layers and <c>functional.conv_transpose2d</c>.</summary>
    ConvTranspose2d,

    /// <summary>ConvTranspose3d layers and <c>functional.conv_transpose3d</c>.</summary>
    ConvTranspose3d,
}
