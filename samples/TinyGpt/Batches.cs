using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>
/// Turns problems into (input, target) token tensors for next-character prediction. Inputs are the
/// text without its last character, targets the text shifted by one with the prompt positions set
/// to <see cref="TinyGptModel.IgnoredTarget"/>: the model is scored on the answer only. The host
/// arrays are reused from batch to batch.
/// </summary>
public sealed class Batches(AdditionData data, int batchSize)
{
    private readonly long[] inputs = new long[batchSize * (data.SequenceLength - 1)];
    private readonly long[] targets = new long[batchSize * (data.SequenceLength - 1)];
    private readonly AdditionProblem[] problems = new AdditionProblem[batchSize];

    public int BatchSize => batchSize;

    /// <summary>Predicted positions per sequence: every input token counts for throughput.</summary>
    public int TokensPerBatch => batchSize * (data.SequenceLength - 1);

    public (Tensor Inputs, Tensor Targets) NextTraining(Device device)
    {
        for (int i = 0; i < batchSize; i++) problems[i] = data.NextTrainingProblem();
        return Encode(problems, data, device, inputs, targets);
    }

    /// <summary>Draws a training batch's problems without encoding them: how a resumed run catches up.</summary>
    public void SkipTraining()
    {
        for (int i = 0; i < batchSize; i++) data.NextTrainingProblem();
    }

    public static (Tensor Inputs, Tensor Targets) Encode(IReadOnlyList<AdditionProblem> problems, AdditionData data, Device device)
    {
        int width = data.SequenceLength - 1;
        return Encode(problems, data, device, new long[problems.Count * width], new long[problems.Count * width]);
    }

    private static (Tensor Inputs, Tensor Targets) Encode(
        IReadOnlyList<AdditionProblem> problems, AdditionData data, Device device, long[] inputs, long[] targets)
    {
        int width = data.SequenceLength - 1;
        Span<long> ids = stackalloc long[data.SequenceLength];
        for (int row = 0; row < problems.Count; row++)
        {
            CharTokenizer.Encode(problems[row].Text(data.Digits), ids);
            for (int column = 0; column < width; column++)
            {
                inputs[row * width + column] = ids[column];
                // target `column` is the character at column + 1; only answer characters are scored
                targets[row * width + column] = column + 1 >= data.PromptLength ? ids[column + 1] : TinyGptModel.IgnoredTarget;
            }
        }
        long[] shape = [problems.Count, width];
        // torch.tensor copies the host array, so the arrays can be refilled for the next batch
        return (tensor(inputs, shape, device: device), tensor(targets, shape, device: device));
    }
}
