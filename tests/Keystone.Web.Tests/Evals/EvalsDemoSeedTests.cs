using Keystone.Data.Calls;
using Keystone.Data.Evals;
using Keystone.Web.Features.Evals;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The demo's eval history (SQLite app with the demo seed; the two-instance test seeds it on PostgreSQL): every seeded
/// result has the recorded call of its answer, so the compare page shows per-call cost and latency for the demo runs,
/// and each run's answer and judge calls add up to the run's cost.
/// </summary>
public sealed class EvalsDemoSeedTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private async Task<(List<EvalRun> Runs, List<EvalResult> Results, List<LlmCall> Calls)> SeededAsync()
    {
        await using var db = fixture.App.CreateSystemDb();
        var set = await db.EvalSets.AsNoTracking().SingleAsync(s => s.TenantId == null && s.Name == "support-reply");
        var runs = await db.EvalRuns.AsNoTracking().Where(r => r.SetId == set.Id && (r.StartedByUserId == "schedule" || r.StartedByUserId == "demo-seed"))
            .OrderBy(r => r.CreatedUtc).ToListAsync();
        var ids = runs.Select(r => r.Id).ToList();
        var results = await db.EvalResults.AsNoTracking().Where(r => ids.Contains(r.RunId)).ToListAsync();
        var calls = await db.Calls.AsNoTracking().Where(c => c.Feature == EvalRunJob.Feature).ToListAsync();
        return (runs, results, calls);
    }

    [Fact]
    public async Task DemoRuns_EachResultHasItsAnswerCall_AndARunsCallsAddUpToItsCost()
    {
        var (runs, results, calls) = await SeededAsync();

        Assert.Equal(EvalsDemoSeed.Nights + 1, runs.Count);
        Assert.All(results, r => Assert.NotNull(r.TraceId));
        var byTrace = calls.ToDictionary(c => c.TraceId);
        Assert.All(results, r =>
        {
            var answer = byTrace[r.TraceId!.Value];
            var run = runs.Single(x => x.Id == r.RunId);
            Assert.Equal((run.Alias, CallStatus.Ok, r.LatencyMs, r.InputTokens, r.OutputTokens), (answer.Alias, answer.Status, answer.LatencyMs, answer.InputTokens, answer.OutputTokens));
            Assert.InRange(answer.CostMicros, 1, r.CostMicros - 1); // the rest is the judge's own call
        });
        Assert.All(runs, run => Assert.Equal(run.CostMicros,
            calls.Where(c => c.CreatedUtc >= run.StartedUtc && c.CreatedUtc <= run.FinishedUtc).Sum(c => c.CostMicros)));
        Assert.Equal(2 * results.Count, calls.Count);
    }

    [Fact]
    public async Task DemoCompare_SmartVersusFast_ShowsTheAnswerCallsCostAndLatency()
    {
        var (runs, results, calls) = await SeededAsync();
        var fast = runs.Single(r => r.Alias == "fast");
        var smart = runs.Last(r => r.Alias == "smart" && r.FinishedUtc < fast.CreatedUtc);
        await using var scope = fixture.App.Services.CreateAsyncScope();

        var c = (await scope.ServiceProvider.GetRequiredService<EvalCompare>().CompareAsync(smart.Id, fast.Id, CancellationToken.None))!;

        long AnswerCost(EvalRun run) => (long)results.Where(r => r.RunId == run.Id).Average(r => calls.Single(x => x.TraceId == r.TraceId).CostMicros);
        Assert.Equal(AnswerCost(smart), c.A.AnswerCostPerExampleMicros);
        Assert.Equal(AnswerCost(fast), c.B.AnswerCostPerExampleMicros);
        Assert.True(c.B.AnswerCostPerExampleMicros < c.A.AnswerCostPerExampleMicros, "fast answers cost less than smart's");
        Assert.True(c.A.AnswerCostPerExampleMicros < c.A.CostPerExampleMicros, "the answer call alone costs less than the example with its judge");
        var smartLatencies = results.Where(r => r.RunId == smart.Id).Select(r => calls.Single(x => x.TraceId == r.TraceId).LatencyMs).Order().ToList();
        Assert.Equal(EvalCompare.Percentile(smartLatencies, 0.95), c.A.LatencyP95Ms);
        Assert.True(c.B.LatencyP50Ms < c.A.LatencyP50Ms, "fast answers sooner than smart");
    }
}
