using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace TinyGpt;

/// <summary>Held-out loss and exact-match accuracy (greedy decoding of every answer character).</summary>
public static class Evaluation
{
    private const int EvaluationBatch = 500;

    /// <summary>
    /// Mean answer-character cross-entropy over the held-out problems, teacher-forced, packed
    /// <paramref name="problemsPerSequence"/> to a sequence as in training (a remainder that fills no row is left out).
    /// </summary>
    public static double ValidationLoss(TinyGptModel model, Func<Tensor, Tensor> forward, AdditionData data, Device device, int problemsPerSequence = 1)
    {
        using var noGrad = no_grad();
        var problems = data.HeldOut.Take(data.HeldOut.Count / problemsPerSequence * problemsPerSequence).ToArray();
        double weightedSum = 0;
        foreach (var chunk in problems.Chunk(Math.Max(1, EvaluationBatch / problemsPerSequence) * problemsPerSequence))
        {
            using var scope = NewDisposeScope();
            var (inputs, targets) = Batches.Encode(chunk, data, device, problemsPerSequence);
            weightedSum += model.Loss(forward(inputs), targets).item<float>() * chunk.Length;
        }
        return weightedSum / problems.Length;
    }

    /// <summary>
    /// The model's answer to each problem: prompt in, <see cref="AdditionData.AnswerLength"/> greedy characters
    /// out. The prompt starts a sequence: the first slot of a packed sequence, trained like every other.
    /// </summary>
    public static string[] Answers(Func<Tensor, Tensor> forward, IReadOnlyList<AdditionProblem> problems, AdditionData data, Device device)
    {
        using var noGrad = no_grad();
        var answers = new List<string>(problems.Count);
        foreach (var chunk in problems.Chunk(EvaluationBatch))
        {
            using var scope = NewDisposeScope();
            var promptIds = new long[chunk.Length * data.PromptLength];
            for (int row = 0; row < chunk.Length; row++)
                CharTokenizer.Encode(chunk[row].Prompt(data.Digits), promptIds.AsSpan(row * data.PromptLength, data.PromptLength));
            var sequence = tensor(promptIds, [chunk.Length, data.PromptLength], device: device);
            for (int i = 0; i < data.AnswerLength; i++)
            {
                var next = forward(sequence).select(1, -1).argmax(-1, keepdim: true);
                sequence = cat([sequence, next], 1);
            }
            var answerIds = sequence.narrow(1, data.PromptLength, data.AnswerLength).cpu().data<long>().ToArray();
            for (int row = 0; row < chunk.Length; row++)
                answers.Add(new string(answerIds.Skip(row * data.AnswerLength).Take(data.AnswerLength).Select(CharTokenizer.Decode).ToArray()));
        }
        return answers.ToArray();
    }

    public static double ExactMatch(IReadOnlyList<AdditionProblem> problems, IReadOnlyList<string> answers, int digits) =>
        problems.Where((problem, i) => problem.Answer(digits) == answers[i]).Count() / (double)problems.Count;
}
