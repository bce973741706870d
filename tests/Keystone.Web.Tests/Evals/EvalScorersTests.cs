using Keystone.Web.Features.Evals;

namespace Keystone.Web.Tests.Evals;

/// <summary>The text scorers and the reading of the judge's verdict (no calls).</summary>
public sealed class EvalScorersTests
{
    private static EvalScore Score(string kind, string value, string answer) => EvalScorers.ScoreText(new EvalExpectation(kind, value), answer);

    [Theory]
    [InlineData("contains", "refund", "You get a REFUND within 5 days.", true)]
    [InlineData("contains", "refund", "You get store credit.", false)]
    [InlineData("not_contains", "password", "Reset it from the settings page.", true)]
    [InlineData("not_contains", "password", "Your Password is hunter2.", false)]
    [InlineData("exact", "42", "  42\n", true)]
    [InlineData("exact", "Yes", "yes", false)]
    [InlineData("regex", @"^\d{3}-\d{4}$", "555-1234", true)]
    [InlineData("regex", @"^\d{3}-\d{4}$", "call 555-1234", false)]
    public void TextScorers_PassAndFailAsSpecified(string kind, string value, string answer, bool passes)
    {
        var score = Score(kind, value, answer);

        Assert.Equal(passes, score.Passed);
        Assert.Equal(passes ? 1 : 0, score.Score);
        Assert.False(string.IsNullOrWhiteSpace(score.Reason));
        Assert.Equal(0, score.CostMicros);
    }

    [Fact]
    public void Regex_CatastrophicBacktracking_FailsWithAReasonInsteadOfHanging()
    {
        var score = Score("regex", "^(a+)+$", new string('a', 40) + "!");

        Assert.False(score.Passed);
        Assert.Contains("took longer", score.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonSchema_ValidFencedInvalidAndNotJson()
    {
        const string schema = """{"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}""";

        var valid = Score("json_schema", schema, "```json\n{\"total\": 12.5}\n```");
        var wrongType = Score("json_schema", schema, """{"total": "twelve"}""");
        var missing = Score("json_schema", schema, """{"sum": 1}""");
        var prose = Score("json_schema", schema, "The total is 12.5");

        Assert.True(valid.Passed);
        Assert.False(wrongType.Passed);
        Assert.Contains("/total", wrongType.Reason, StringComparison.Ordinal);
        Assert.False(missing.Passed);
        Assert.False(prose.Passed);
        Assert.Contains("not JSON", prose.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"score": 8, "reason": "Polite and correct."}""", 0.8)]
    [InlineData("Here is my verdict:\n```json\n{\"score\": \"9\", \"reason\": \"ok\"}\n```", 0.9)]
    [InlineData("""{"score": 10}""", 1.0)]
    public void ParseJudge_ReadableVerdicts_GiveTheGradeOnAZeroToOneScale(string text, double expected)
    {
        var (score, reason) = EvalScorers.ParseJudge(text);

        Assert.Equal(expected, score!.Value, 3);
        Assert.StartsWith("the judge gave", reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Looks good to me!")]
    [InlineData("""{"score": 11, "reason": "great"}""")]
    [InlineData("""{"score": 0}""")]
    [InlineData("""{"grade": 7}""")]
    [InlineData("""{"score": "high"}""")]
    [InlineData("""{"score": 7, "reason": "unterminated}""")]
    [InlineData("[1, 2] }")]
    public void ParseJudge_MalformedVerdict_HasNoScoreAndSaysWhy(string text)
    {
        var (score, reason) = EvalScorers.ParseJudge(text);

        Assert.Null(score);
        Assert.StartsWith("the judge", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validation_RefusesUnusableScorersAndExamplesNothingCanScore()
    {
        EvalExampleInput With(params EvalExpectation[] x) => new(new Dictionary<string, string> { ["q"] = "hi" }, null, null, x, null);

        Assert.Null(EvalExampleValidation.Validate(With(new EvalExpectation("contains", "hi"))));
        Assert.NotNull(EvalExampleValidation.Validate(With()));
        Assert.NotNull(EvalExampleValidation.Validate(With(new EvalExpectation("regex", "(unclosed"))));
        Assert.NotNull(EvalExampleValidation.Validate(With(new EvalExpectation("json_schema", "{not json"))));
        Assert.NotNull(EvalExampleValidation.Validate(With(new EvalExpectation("similarity"))));
        Assert.NotNull(EvalExampleValidation.Validate(With(new EvalExpectation("judge", " "))));
        Assert.NotNull(EvalExampleValidation.Validate(With(new EvalExpectation("contains", "x", Threshold: 1.5))));
        Assert.NotNull(EvalExampleValidation.Validate(With(new EvalExpectation("sentiment", "x"))));
        Assert.NotNull(EvalExampleValidation.Validate(new EvalExampleInput(null, null, "expected", null, null)));
    }
}
