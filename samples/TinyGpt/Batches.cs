using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>
/// Turns problems into (input, target) token tensors for next-character prediction. A sequence packs
/// <paramref name="problemsPerSequence"/> problems back to back (fixed width, so each answer sits at a fixed
/// position). Inputs are the text without its last character, targets the text shifted by one with the
/// prompt positions set to <see cref="TinyGptModel.IgnoredTarget"/>: the model is scored on the answers
/// only. The host arrays are reused from batch to batch.
/// </summary>
public sealed class Batches(AdditionData data, int batchSize, int problemsPerSequence = 1)
{
    private readonly long[] inputs = new long[batchSize * Context(data, problemsPerSequence)];
    private readonly long[] targets = new long[batchSize * Context(data, problemsPerSequence)];
    private readonly AdditionProblem[] problems = new AdditionProblem[batchSize * problemsPerSequence];

    public int BatchSize => batchSize;

    /// <summary>Predicted positions per batch: every input token counts for throughput.</summary>
    public int TokensPerBatch => batchSize * Context(data, problemsPerSequence);

    /// <summary>Input positions of a sequence of <paramref name="problemsPerSequence"/> problems.</summary>
    public static int Context(AdditionData data, int problemsPerSequence) => problemsPerSequence * data.SequenceLength - 1;

    public (Tensor Inputs, Tensor Targets) NextTraining(Device device)
    {
        for (int i = 0; i < problems.Length; i++) problems[i] = data.NextTrainingProblem();
        return Encode(problems, data, problemsPerSequence, device, inputs, targets);
    }

    /// <summary>Draws a training batch's problems without encoding them: how a resumed run catches up.</summary>
    public void SkipTraining()
    {
        for (int i = 0; i < problems.Length; i++) data.NextTrainingProblem();
    }

    /// <summary>Rows of <paramref name="problemsPerSequence"/> problems; the count must be a multiple of it.</summary>
    public static (Tensor Inputs, Tensor Targets) Encode(IReadOnlyList<AdditionProblem> problems, AdditionData data, Device device, int problemsPerSequence = 1)
    {
        if (problems.Count % problemsPerSequence != 0)
            throw new ArgumentException($"{problems.Count} problems do not fill rows of {problemsPerSequence}", nameof(problems));
        int size = problems.Count / problemsPerSequence * Context(data, problemsPerSequence);
        return Encode(problems, data, problemsPerSequence, device, new long[size], new long[size]);
    }

    private static (Tensor Inputs, Tensor Targets) Encode(
        IReadOnlyList<AdditionProblem> problems, AdditionData data, int problemsPerSequence, Device device, long[] inputs, long[] targets)
    {
        int length = data.SequenceLength, width = Context(data, problemsPerSequence), rows = problems.Count / problemsPerSequence;
        Span<long> ids = stackalloc long[problemsPerSequence * length];
        for (int row = 0; row < rows; row++)
        {
            for (int slot = 0; slot < problemsPerSequence; slot++)
                CharTokenizer.Encode(problems[row * problemsPerSequence + slot].Text(data.Digits), ids.Slice(slot * length, length));
            for (int column = 0; column < width; column++)
            {
                inputs[row * width + column] = ids[column];
                // target `column` is the character at column + 1; only answer characters are scored
                targets[row * width + column] = (column + 1) % length >= data.PromptLength ? ids[column + 1] : TinyGptModel.IgnoredTarget;
            }
        }
        long[] shape = [rows, width];
        // torch.tensor copies the host array, so the arrays can be refilled for the next batch
        return (tensor(inputs, shape, device: device), tensor(targets, shape, device: device));
    }
}
