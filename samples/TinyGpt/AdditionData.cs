using System;
using System.Collections.Generic;
using System.Globalization;

namespace TinyGpt;

/// <summary>One addition problem, written as fixed-width text: <c>123+989=1112</c>, <c>007+050=0057</c>.</summary>
public readonly record struct AdditionProblem(int Left, int Right)
{
    public int Sum => Left + Right;

    public string Prompt(int digits) =>
        Left.ToString("D" + digits, CultureInfo.InvariantCulture) + "+" +
        Right.ToString("D" + digits, CultureInfo.InvariantCulture) + "=";

    public string Answer(int digits) => Sum.ToString("D" + (digits + 1), CultureInfo.InvariantCulture);

    public string Text(int digits) => Prompt(digits) + Answer(digits);
}

/// <summary>
/// Seeded addition problems: a fixed held-out set the model never trains on, and an endless stream of
/// training problems drawn from the rest. Operands are zero-padded so every problem has the same
/// layout (the answer always starts at the same position), which keeps the sequences mask-free
/// apart from causality.
/// </summary>
public sealed class AdditionData
{
    private readonly HashSet<long> heldOutKeys = new();
    private readonly Random trainingRandom;
    private readonly int operandLimit;

    public AdditionData(int digits, int heldOutCount, int seed)
    {
        if (digits is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(digits), digits, "1 to 8 digits");
        Digits = digits;
        operandLimit = (int)Math.Pow(10, digits);
        var heldOutRandom = new Random(seed);
        var heldOut = new List<AdditionProblem>(heldOutCount);
        while (heldOut.Count < heldOutCount)
        {
            var problem = Draw(heldOutRandom);
            if (heldOutKeys.Add(Key(problem))) heldOut.Add(problem);
        }
        HeldOut = heldOut;
        trainingRandom = new Random(seed + 1);
    }

    public int Digits { get; }

    /// <summary>Prompt length: two operands, '+' and '='.</summary>
    public int PromptLength => 2 * Digits + 2;

    /// <summary>Answer length: the sum has at most one digit more than the operands.</summary>
    public int AnswerLength => Digits + 1;

    public int SequenceLength => PromptLength + AnswerLength;

    public IReadOnlyList<AdditionProblem> HeldOut { get; }

    /// <summary>The next training problem; held-out problems are never returned.</summary>
    public AdditionProblem NextTrainingProblem()
    {
        while (true)
        {
            var problem = Draw(trainingRandom);
            if (!heldOutKeys.Contains(Key(problem))) return problem;
        }
    }

    public bool IsHeldOut(AdditionProblem problem) => heldOutKeys.Contains(Key(problem));

    private AdditionProblem Draw(Random random) => new(random.Next(operandLimit), random.Next(operandLimit));

    private long Key(AdditionProblem problem) => (long)problem.Left * operandLimit + problem.Right;
}
