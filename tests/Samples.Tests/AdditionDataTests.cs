using System.Linq;
using TinyGpt;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Samples.Tests;

public sealed class AdditionDataTests
{
    [Theory]
    [InlineData(123, 989, "123+989=1112")]
    [InlineData(7, 50, "007+050=0057")]
    public void Problems_are_fixed_width_text(int left, int right, string text) =>
        Assert.Equal(text, new AdditionProblem(left, right).Text(3));

    [Fact]
    public void Training_never_draws_a_held_out_problem_and_the_data_is_seeded()
    {
        var data = new AdditionData(digits: 2, heldOutCount: 500, seed: 3);
        var again = new AdditionData(digits: 2, heldOutCount: 500, seed: 3);

        var drawn = Enumerable.Range(0, 5000).Select(_ => data.NextTrainingProblem()).ToList();

        Assert.Equal(500, data.HeldOut.Distinct().Count());
        Assert.DoesNotContain(drawn, data.IsHeldOut);
        Assert.Equal(data.HeldOut, again.HeldOut);
        Assert.Equal(drawn.Take(50), Enumerable.Range(0, 50).Select(_ => again.NextTrainingProblem()));
    }

    [Fact]
    public void Tokenizer_round_trips_and_rejects_unknown_symbols()
    {
        var text = new AdditionProblem(123, 989).Text(3);

        Assert.Equal(text, new string(text.Select(c => CharTokenizer.Decode(CharTokenizer.Encode(c))).ToArray()));
        Assert.ThrowsAny<System.ArgumentException>(() => CharTokenizer.Encode('x'));
    }

    [Fact]
    public void Batches_score_only_the_answer_characters()
    {
        var data = new AdditionData(digits: 3, heldOutCount: 1, seed: 1);
        var problem = new AdditionProblem(123, 989);

        var (inputs, targets) = Batches.Encode([problem], data, CPU);

        var text = problem.Text(3);
        Assert.Equal(new long[] { 1, text.Length - 1 }, inputs.shape);
        Assert.Equal(text[..^1].Select(CharTokenizer.Encode), inputs.data<long>().ToArray());
        var expectedTargets = Enumerable.Range(1, text.Length - 1)
            .Select(i => i >= data.PromptLength ? CharTokenizer.Encode(text[i]) : TinyGptModel.IgnoredTarget);
        Assert.Equal(expectedTargets, targets.data<long>().ToArray());
    }

    [Fact]
    public void A_packed_sequence_holds_whole_problems_back_to_back_and_scores_every_answer()
    {
        var data = new AdditionData(digits: 2, heldOutCount: 1, seed: 1);
        AdditionProblem[] problems = [new(12, 98), new(7, 5)];

        var (inputs, targets) = Batches.Encode(problems, data, CPU, problemsPerSequence: 2);

        var text = problems[0].Text(2) + problems[1].Text(2); // "12+98=110" + "07+05=012"
        Assert.Equal(new long[] { 1, text.Length - 1 }, inputs.shape);
        Assert.Equal(text[..^1].Select(CharTokenizer.Encode), inputs.data<long>().ToArray());
        var scored = targets.data<long>().ToArray().Select((id, i) => id == TinyGptModel.IgnoredTarget ? '.' : text[i + 1]);
        Assert.Equal(".....110......012", new string(scored.ToArray()));
        Assert.Throws<System.ArgumentException>(() => Batches.Encode(problems[..1], data, CPU, problemsPerSequence: 2));
    }

    [Fact]
    public void Exact_match_counts_whole_answers_only()
    {
        AdditionProblem[] problems = [new(1, 2), new(10, 20), new(99, 1)];

        var accuracy = Evaluation.ExactMatch(problems, ["003", "031", "100"], digits: 2);

        Assert.Equal(2.0 / 3.0, accuracy, 6);
    }
}
