using Keystone.Web.Platform;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Evals;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary>The graded scorers through the real gateway (simulated provider): embeddings for similarity, a chat call for the judge.</summary>
public sealed class EvalScorersGatewayTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private EvalScoringCalls Calls(string requestId) => new(fixture.App.Services.GetRequiredService<ILlmGateway>(),
        new CallContext { TenantId = DemoData.AcmeId, Feature = "eval", RequestId = requestId });

    private static ChatResult Answer(string text) => new(text, [], "stop", new Keystone.Gateway.Usage(10, 5),
        new CallOutcome { CallId = Guid.NewGuid(), TraceId = Guid.NewGuid(), CostMicros = 100, LatencyMs = 20 });

    [Fact]
    public async Task Similarity_SameWordsPassUnrelatedFail_AndTheEmbeddingCallIsCounted()
    {
        var example = new EvalExampleInput(new Dictionary<string, string> { ["q"] = "plan" }, null, "The Pro plan includes priority support.", null, null);

        var same = await EvalScorers.ScoreExampleAsync(example, Answer("The Pro plan includes priority support."), Calls(Guid.NewGuid().ToString("N")), CancellationToken.None);
        var other = await EvalScorers.ScoreExampleAsync(example, Answer("Bananas are yellow fruit grown in warm climates."), Calls(Guid.NewGuid().ToString("N")), CancellationToken.None);

        Assert.True(same.Passed);
        Assert.True(same.Score > 0.99);
        Assert.False(other.Passed);
        Assert.True(other.Score < EvalScorers.DefaultSimilarityThreshold);
        Assert.Equal(EvalExpectation.Similarity, Assert.Single(same.Scores).Kind);
        // The answer's own tokens and cost plus the scorer's embedding tokens.
        Assert.True(same.InputTokens > 10);
        Assert.Equal(5, same.OutputTokens);
        Assert.True(same.CostMicros >= 100);
    }

    [Fact]
    public async Task Judge_ThroughTheGateway_IsRecordedUnderFeatureEval_AndAnUnreadableVerdictFails()
    {
        var requestId = Guid.NewGuid().ToString("N");
        var example = new EvalExampleInput(null, [new EvalMessage("user", "Say hello politely.")], null,
            [new EvalExpectation(EvalExpectation.Judge, "The answer greets the user politely."), new EvalExpectation(EvalExpectation.Contains, "hello")], null);

        var result = await EvalScorers.ScoreExampleAsync(example, Answer("Hello, nice to meet you!"), Calls(requestId), CancellationToken.None);

        var judge = result.Scores.Single(s => s.Kind == EvalExpectation.Judge);
        var contains = result.Scores.Single(s => s.Kind == EvalExpectation.Contains);
        Assert.True(contains.Passed);
        Assert.True(judge.InputTokens > 0);
        Assert.True(judge.LatencyMs >= 0);
        // The simulated provider answers in prose, not the JSON verdict: the judge fails the example with that reason.
        Assert.False(judge.Passed);
        Assert.Equal(0, judge.Score);
        Assert.StartsWith("the judge", judge.Reason, StringComparison.Ordinal);
        Assert.False(result.Passed);
        Assert.Contains("judge", result.Reason, StringComparison.Ordinal);
        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = fixture.App.CreateSystemDb();
        var call = await db.Calls.AsNoTracking().SingleAsync(c => c.RequestId == requestId);
        Assert.Equal("eval", call.Feature);
        Assert.Equal(DemoData.AcmeId, call.TenantId);
    }
}
