using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Data.Calls;
using Keystone.Data.Evals;
using Keystone.Gateway;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Eval history for the demo (issue 23, item 4): for every active demo prompt with a global set (today
/// <c>support-reply</c>, v1 active from day -20, v2 from day -9), fourteen nights of done nightly runs with realistic
/// scores, costs and latencies, each run's per-example results, the baselines of both activations, a manual run on
/// <c>fast</c> beside <c>smart</c> for the compare page, and the last two nights drifting below v2's baseline with one
/// drift alert open. Written as rows (no model calls: fourteen nights cannot be run in the past), each answer and judge
/// call with its recorded <c>llm_calls</c> row (feature <c>eval</c>, the run's trace ids), so the compare page shows
/// per-call cost and latency and the eval spend is in the usage like a real run's. Deterministic numbers, so every demo
/// looks the same. Idempotent: nothing happens once the set has a run.
/// </summary>
internal sealed class EvalsDemoSeed(KeystoneDbFactory dbFactory, EvalFileImporter files, ILlmGateway gateway, TimeProvider clock, ILogger<EvalsDemoSeed> log)
    : IDemoSeedStep
{
    /// <summary>Nights of history.</summary>
    public const int Nights = 14;

    /// <summary>
    /// After the prompts (10) and after the demo traffic (100): the history seed records its traffic only while no call
    /// exists, and the eval runs' recorded calls would be such calls.
    /// </summary>
    public int Order => 110;

    // Per example, per night: a small deterministic wobble (points), so the line is not flat and not random per start.
    private static readonly double[] Wobble = [0.0, -0.02, 0.01, 0.03, -0.01, 0.02, -0.03, 0.01, 0.0, -0.02, 0.02, 0.01, -0.01, 0.0];

    public async Task RunAsync(CancellationToken ct)
    {
        await files.ImportAsync(ct);
        await using var db = dbFactory.ForSystem();
        var sets = await db.EvalSets.AsNoTracking().Where(s => s.TenantId == null && s.PromptName != null).ToListAsync(ct);
        var billing = await db.Tenants.AsNoTracking().OrderBy(t => t.Name).ThenBy(t => t.Id).Select(t => (Guid?)t.Id).FirstOrDefaultAsync(ct);
        if (billing is null)
        {
            return;
        }

        foreach (var set in sets)
        {
            if (await db.EvalRuns.AnyAsync(r => r.SetId == set.Id, ct))
            {
                continue;
            }

            await SeedSetAsync(db, set, billing.Value, ct);
        }
    }

    private async Task SeedSetAsync(KeystoneDbContext db, EvalSet set, Guid billing, CancellationToken ct)
    {
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == set.PromptName, ct);
        var examples = await db.EvalExamples.AsNoTracking().Where(e => e.TenantId == null && e.EvalSet == set.Name)
            .OrderBy(e => e.CreatedUtc).ThenBy(e => e.Id).ToListAsync(ct);
        if (prompt is null || examples.Count == 0)
        {
            return;
        }

        var activations = await db.PromptActivations.AsNoTracking().Where(a => a.PromptId == prompt.Id && a.TenantId == null && a.VersionId != null)
            .OrderBy(a => a.Id).ToListAsync(ct);
        var versions = await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id).ToDictionaryAsync(v => v.Id, ct);
        if (activations.Count == 0)
        {
            return;
        }

        var today = clock.GetUtcNow().UtcDateTime.Date;
        var ids = JsonSerializer.Serialize(examples.Select(e => e.Id).ToList(), EvalDriftAlerts.Json);
        var baselines = new Dictionary<long, EvalRun>();
        EvalRun? lastDrifted = null;
        var activeIndex = -1;
        for (var night = Nights; night >= 1; night--)
        {
            var at = today.AddDays(-night).AddHours(2);
            var activation = activations.LastOrDefault(a => a.ActivatedUtc <= at);
            if (activation is null)
            {
                continue;
            }

            var version = versions[activation.VersionId!.Value];
            activeIndex = activations.IndexOf(activation);
            // Each later version scores a little better; the last two nights of the newest drift (a provider-side model update).
            var drifting = activeIndex == activations.Count - 1 && night <= 2 && activations.Count > 1;
            var baseScore = 0.84 + 0.06 * activeIndex - (drifting ? 0.17 + (2 - night) * 0.02 : 0);
            var run = AddRun(db, set, billing, version.Id, version.Number, version.ModelAlias, EvalRunTrigger.Schedule, at, ids, examples,
                e => Math.Clamp(baseScore + Wobble[(night + e) % Wobble.Length], 0, 1), drifting);
            if (activation.ActivatedUtc <= at && !baselines.ContainsKey(activation.Id))
            {
                baselines[activation.Id] = run;
                db.EvalBaselines.Add(new EvalBaseline
                {
                    Id = Guid.NewGuid(), TenantId = null, PromptName = prompt.Name, ActivationId = activation.Id, PromptVersionId = version.Id,
                    VersionNumber = version.Number, SetId = set.Id, Alias = version.ModelAlias, RunId = run.Id, ScorePoints = EvalDriftMonitor.Points(run),
                    Source = EvalDriftMonitor.FromFirstRun, CreatedUtc = run.FinishedUtc!.Value,
                });
            }

            if (drifting)
            {
                lastDrifted = run;
            }
        }

        // The compare page's evidence: the active version on the cheaper alias, yesterday afternoon.
        var current = activations[^1];
        var currentVersion = versions[current.VersionId!.Value];
        if (!string.Equals(currentVersion.ModelAlias, "fast", StringComparison.Ordinal))
        {
            AddRun(db, set, billing, currentVersion.Id, currentVersion.Number, "fast", EvalRunTrigger.Manual, today.AddDays(-1).AddHours(15), ids, examples,
                e => Math.Clamp(0.82 + Wobble[(e + 5) % Wobble.Length], 0, 1), false);
        }

        await db.SaveChangesAsync(ct);
        if (lastDrifted is not null && baselines.TryGetValue(current.Id, out var baseline))
        {
            await AddAlertAsync(db, prompt.Name, currentVersion.Id, currentVersion.Number, current.Id, set, baseline, lastDrifted, billing, ct);
        }

        log.LogInformation("Seeded {Nights} nights of eval history for {Prompt}", Nights, prompt.Name);
    }

    private static EvalRun AddRun(KeystoneDbContext db, EvalSet set, Guid billing, Guid versionId, int number, string alias, EvalRunTrigger trigger,
        DateTime at, string ids, List<EvalExample> examples, Func<int, double> scoreOf, bool drifting)
    {
        var smart = alias == "smart";
        var model = smart ? "sim-smart" : "sim-fast";
        var run = new EvalRun
        {
            Id = Guid.NewGuid(), TenantId = null, BillingTenantId = billing, SetId = set.Id, SetName = set.Name, PromptName = set.PromptName,
            PromptVersionId = versionId, PromptVersionNumber = number, Alias = alias, Status = EvalRunStatus.Done, Trigger = trigger,
            ExampleIdsJson = ids, Total = examples.Count, StartedByUserId = trigger == EvalRunTrigger.Schedule ? "schedule" : "demo-seed",
            StartedByName = trigger == EvalRunTrigger.Schedule ? "nightly schedule" : "product@keystone.demo",
            CreatedUtc = at, StartedUtc = at.AddSeconds(2), HeartbeatUtc = at.AddSeconds(40), FinishedUtc = at.AddSeconds(41),
        };
        for (var i = 0; i < examples.Count; i++)
        {
            var score = Math.Round(scoreOf(i), 3);
            var passed = score >= 0.7;
            var input = 160 + 23 * i;
            var output = (drifting ? 95 : 58) + 7 * i;
            // Demo prices: smart about $2.50 / $10 per million tokens in and out, fast about $0.15 / $0.60, plus the judge's call.
            var cost = (smart ? input * 5L / 2 + output * 10L : input * 3L / 20 + output * 3L / 5) + JudgeCostMicros;
            var latency = (smart ? 900 : 380) + 97 * i + (drifting ? 420 : 0);
            // The calls as the recorder would have written them: the answer on the run's alias (its trace is the result's),
            // then the judge's call on smart, in the run's minute. The judge's 900 micro-USD is its own call's cost.
            var answeredAt = run.StartedUtc!.Value.AddMilliseconds(1_700 * i + latency);
            var answer = DemoCall(billing, set.PromptName, versionId, alias, model, input, output, cost - JudgeCostMicros, latency, answeredAt);
            db.Calls.Add(answer);
            db.Calls.Add(DemoCall(billing, EvalScorers.JudgePromptName, null, "smart", "sim-smart", 310 + output, 24, JudgeCostMicros, 640 + 13 * i,
                answeredAt.AddMilliseconds(650 + 13 * i)));
            db.EvalResults.Add(new EvalResult
            {
                Id = Guid.NewGuid(), RunId = run.Id, TenantId = null, ExampleId = examples[i].Id, Attempt = 1, Answer = AnswerOf(examples[i], drifting, smart),
                Score = score, Passed = passed,
                Reasons = passed ? "Meets the example's expectations." : "Misses the expected hand-over or the customer's name.",
                InputTokens = input, OutputTokens = output, CostMicros = cost, LatencyMs = latency, TraceId = answer.TraceId, CreatedUtc = run.FinishedUtc!.Value,
            });
            run.Completed++;
            run.Passed += passed ? 1 : 0;
            run.ScoreSum += score;
            run.CostMicros += cost;
            run.InputTokens += input;
            run.OutputTokens += output;
            run.LatencyMsSum += latency;
        }

        db.EvalRuns.Add(run);
        return run;
    }

    /// <summary>The judge's call per example in the demo runs (micro-USD), included in each result's cost.</summary>
    private const long JudgeCostMicros = 900;

    /// <summary>One recorded eval call, as the gateway records a run's calls: feature <c>eval</c>, billed to the platform, priced exactly.</summary>
    private static LlmCall DemoCall(Guid tenant, string? promptName, Guid? versionId, string alias, string model, int input, int output, long cost, int latency,
        DateTime at) => new()
    {
        Id = Guid.NewGuid(), TraceId = Guid.NewGuid(), TenantId = tenant, Feature = EvalRunJob.Feature, PromptName = promptName, PromptVersionId = versionId,
        Alias = alias, Provider = "sim", Model = model, InputTokens = input, OutputTokens = output, CostMicros = cost, CostStatus = CostStatus.Exact,
        BilledTo = BilledTo.Platform, CacheStatus = CacheStatus.None, Attempts = 1, Status = CallStatus.Ok, LatencyMs = latency, CreatedUtc = at,
    };

    private static string AnswerOf(EvalExample example, bool drifting, bool smart)
    {
        var expected = example.ExpectedOutput.Length > 0 ? example.ExpectedOutput : "Thanks for reaching out; a colleague will get back to you.";
        if (drifting)
        {
            return "Thank you for your message! We always guarantee a solution. Please check our help center for more information on this topic.";
        }

        return smart ? expected : expected.Split(';')[0] + ".";
    }

    private async Task AddAlertAsync(KeystoneDbContext db, string promptName, Guid versionId, int number, long activationId, EvalSet set,
        EvalRun baseline, EvalRun drifted, Guid billing, CancellationToken ct)
    {
        var before = await db.EvalResults.AsNoTracking().Where(r => r.RunId == baseline.Id).ToDictionaryAsync(r => r.ExampleId, ct);
        var after = await db.EvalResults.AsNoTracking().Where(r => r.RunId == drifted.Id).ToListAsync(ct);
        var changed = after.Where(r => before.ContainsKey(r.ExampleId))
            .Select(r => new EvalDriftExample(r.ExampleId, before[r.ExampleId].Score, r.Score, before[r.ExampleId].Passed, r.Passed))
            .OrderBy(c => c.After - c.Before).ToList();
        string? model = null;
        try
        {
            model = (await gateway.ModelsAsync(billing, ct)).FirstOrDefault(m => m.Id == drifted.Alias)?.Targets is { Count: > 0 } targets ? targets[0] : null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The gateway is not fully started this early in some set-ups: the alert names the alias only.
            log.LogInformation("The demo drift alert names no model: {Reason}", ex.Message);
        }

        var alert = new EvalDriftAlert
        {
            Id = Guid.NewGuid(), TenantId = null, PromptName = promptName, PromptVersionId = versionId, VersionNumber = number, ActivationId = activationId,
            Alias = drifted.Alias, Model = model, SetId = set.Id, SetName = set.Name, BaselineRunId = baseline.Id, RunId = drifted.Id,
            BaselineScorePoints = EvalDriftMonitor.Points(baseline), ScorePoints = EvalDriftMonitor.Points(drifted), TolerancePoints = 5,
            ChangedExamplesJson = JsonSerializer.Serialize(changed, EvalDriftAlerts.Json), Status = EvalDriftStatus.Open,
            OpenKey = EvalDriftMonitor.OpenKeyOf(promptName, null, versionId), CreatedUtc = drifted.FinishedUtc!.Value,
        };
        db.EvalDriftAlerts.Add(alert);
        db.AuditLog.Add(new AuditEntry
        {
            ActorType = "system", ActorId = "evals:drift", ActorName = "drift check", TenantId = null, Action = "eval.drift", Target = $"prompt:{promptName}",
            MetadataJson = JsonSerializer.Serialize(new { alert = alert.Id, version = number, alias = drifted.Alias, model, baseline = alert.BaselineScorePoints, score = alert.ScorePoints }),
            CreatedUtc = alert.CreatedUtc,
        });
        await db.SaveChangesAsync(ct);
    }
}
