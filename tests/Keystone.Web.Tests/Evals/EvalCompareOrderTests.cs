using Keystone.Data.Evals;
using Keystone.Web.Features.Evals;

namespace Keystone.Web.Tests.Evals;

/// <summary>The compare page's per-example order: the largest score change first, an answer lost or gained counting as the largest.</summary>
public sealed class EvalCompareOrderTests
{
    private static EvalResultView Scored(double score) => new(Guid.NewGuid(), Guid.NewGuid(), 1, "answer", score, score >= 0.7, "", null, 0, 0, 0, 0, null, DateTime.UtcNow);

    private static EvalResultView Errored() => new(Guid.NewGuid(), Guid.NewGuid(), 1, "", 0, false, "", "upstream failed", 0, 0, 0, 0, null, DateTime.UtcNow);

    private static EvalCompareRow Row(string input, EvalResultView? a, EvalResultView? b) => new(Guid.NewGuid(), input, a, b);

    [Fact]
    public void RowsByChange_LargestChangeFirst_LostAnswersCountAsLargest_TiesKeepTheSetsOrder()
    {
        var side = new EvalCompareSide(new EvalRunView(Guid.NewGuid(), Guid.NewGuid(), "s", null, "Global", Guid.NewGuid(), null, null, "fast",
            EvalRunStatus.Done, EvalRunTrigger.Manual, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, false, null, "t", DateTime.UtcNow, null, null), null, null, null, null);
        var comparison = new EvalComparison(side, side,
        [
            Row("same", Scored(1), Scored(1)),
            Row("small drop", Scored(1), Scored(0.9)),
            Row("lost", Scored(1), Errored()),
            Row("big gain", Scored(0.2), Scored(0.9)),
            Row("both failed", Errored(), Errored()),
            Row("also same", Scored(0.5), Scored(0.5)),
        ], []);

        var order = comparison.RowsByChange.Select(r => r.Input).ToList();

        Assert.Equal(["lost", "big gain", "small drop", "same", "both failed", "also same"], order);
        Assert.Equal(["same", "small drop", "lost", "big gain", "both failed", "also same"], comparison.Rows.Select(r => r.Input));
    }
}
