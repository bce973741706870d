using System.Security.Claims;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// Feature sets, the sampler of production calls, the review queue and the managed judge prompt, over the real gateway
/// and simulated provider on a real database: SQLite, and PostgreSQL as the RLS-bound application role (subclasses below).
/// </summary>
public abstract class EvalFeatureSamplingTests : IAsyncLifetime
{
    private EvalRunHarness _h = default!;
    private readonly List<AsyncServiceScope> _scopes = [];

    protected abstract string Provider { get; }

    public async Task InitializeAsync() => _h = await EvalRunHarness.CreateAsync(Provider);

    public async Task DisposeAsync()
    {
        foreach (var scope in _scopes)
        {
            await scope.DisposeAsync();
        }

        await _h.DisposeAsync();
    }

    private static readonly EvalRunStarter Starter = new("editor-1", "product@keystone.demo");

    private static ClaimsPrincipal Editor(string id = "editor-1") => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, id), new Claim(ClaimTypes.Email, $"{id}@keystone.demo"), new Claim(ClaimTypes.Role, Roles.PromptEditor),
    ], "test"));

    private static ClaimsPrincipal TenantAdmin(Guid tenantId, string id) => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, id), new Claim(ClaimTypes.Email, $"{id}@tenant.demo"), new Claim(ClaimTypes.Role, Roles.TenantAdmin),
        new Claim(KeystoneClaims.TenantId, tenantId.ToString()),
    ], "test"));

    private EvalCandidateReview ReviewAs(ClaimsPrincipal user)
    {
        var scope = _h.Services.CreateAsyncScope();
        _scopes.Add(scope);
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(user);
        return scope.ServiceProvider.GetRequiredService<EvalCandidateReview>();
    }

    private EvalSamplerJob Sampler => _h.Services.GetRequiredService<EvalSamplerJob>();

    /// <summary>Production calls of a tenant and feature through the gateway, recorded and flushed; their call ids.</summary>
    private async Task<List<Guid>> CallsAsync(Guid tenantId, string feature, int count, string question = "Where is my order")
    {
        var gateway = _h.Services.GetRequiredService<ILlmGateway>();
        var traceIds = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            var answer = await gateway.CompleteAsync(new ChatRequest { Model = "fast", Messages = [new ChatMessage("system", "Be brief."), new ChatMessage("user", $"{question} #{i}?")] },
                new CallContext { TenantId = tenantId, Feature = feature }, CancellationToken.None);
            traceIds.Add(answer.Outcome.TraceId);
        }

        await _h.Services.GetRequiredService<IRecordedCalls>().FlushAsync(CancellationToken.None);
        await using var db = _h.Factory.ForSystem();
        return await db.Calls.AsNoTracking().Where(c => traceIds.Contains(c.TraceId)).Select(c => c.Id).ToListAsync();
    }

    private async Task SetRateAsync(Guid tenantId, string feature, double percent) =>
        await ReviewAs(Editor()).SetRateAsync(tenantId, feature, percent, CancellationToken.None);

    [Fact]
    public async Task FeatureSet_RunOnAnAlias_AnswersTheRecordedMessagesWithNoPromptVersion()
    {
        var set = await _h.Sets.CreateFeatureSetAsync("checkout", DemoData.AcmeId, null, CancellationToken.None);
        await _h.Sets.AddExampleAsync(set.Id, new EvalExampleInput(null, [new EvalMessage("user", "Where is my order?")], null,
            [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        var variablesOnly = await Assert.ThrowsAsync<EvalException>(() => _h.Sets.AddExampleAsync(set.Id, EvalRunHarness.Example("hi"), "editor", CancellationToken.None));
        var withVersion = await Assert.ThrowsAsync<EvalException>(() => _h.Store.CreateAsync(new EvalRunRequest(set.Id, 1, "fast", EvalRunTrigger.Manual), Starter, CancellationToken.None));
        var noAlias = await Assert.ThrowsAsync<EvalException>(() => _h.Store.CreateAsync(new EvalRunRequest(set.Id, null, null, EvalRunTrigger.Manual), Starter, CancellationToken.None));
        var badLabel = await Assert.ThrowsAsync<EvalException>(() => _h.Sets.CreateFeatureSetAsync("no spaces", DemoData.AcmeId, null, CancellationToken.None));
        var again = await _h.Sets.CreateFeatureSetAsync("checkout", DemoData.AcmeId, null, CancellationToken.None);

        var run = await _h.Store.CreateAsync(new EvalRunRequest(set.Id, null, "fast", EvalRunTrigger.Manual), Starter, CancellationToken.None);
        Assert.True(await _h.Store.ClaimAsync(run.Id, "w", CancellationToken.None));
        var ended = await _h.Job.RunClaimedAsync(run.Id, "w", CancellationToken.None);

        Assert.Equal(("feature:checkout", "checkout", (string?)null, (Guid?)DemoData.AcmeId), (set.Name, set.Feature, set.PromptName, set.TenantId));
        Assert.Equal(set.Id, again.Id);
        Assert.All([variablesOnly, withVersion, noAlias, badLabel], e => Assert.Equal(EvalException.Invalid, e.Code));
        Assert.Equal(EvalRunStatus.Done, ended);
        var done = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal((1, 1, (int?)null, "fast"), (done.Completed, done.Passed, done.Version, done.Alias));
        var result = Assert.Single(await _h.Store.ResultsAsync(run.Id, CancellationToken.None));
        await _h.Services.GetRequiredService<IRecordedCalls>().FlushAsync(CancellationToken.None);
        await using var db = _h.Factory.ForSystem();
        var call = await db.Calls.AsNoTracking().SingleAsync(c => c.TraceId == result.TraceId);
        Assert.Equal(("eval", DemoData.AcmeId, (Guid?)null, "fast"), (call.Feature, call.TenantId, call.PromptVersionId, call.Alias));
        // The set is Acme's: Globex's unit of work does not see it, nor its run.
        await using var globex = _h.Factory.ForTenant(DemoData.GlobexId);
        Assert.False(await globex.EvalSets.AnyAsync(s => s.Id == set.Id));
        if (Provider == "postgres")
        {
            Assert.False(await globex.EvalSets.IgnoreQueryFilters().AnyAsync(s => s.Id == set.Id));
        }

        Assert.False(await globex.EvalRuns.AnyAsync(r => r.Id == run.Id));
    }

    [Fact]
    public void Selected_IsDeterministicAndFollowsTheRate()
    {
        var ids = Enumerable.Range(0, 20_000).Select(i => new Guid(i, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8)).ToList();

        var onePercent = ids.Count(id => EvalSamplerJob.Selected(id, 10_000));
        var again = ids.Count(id => EvalSamplerJob.Selected(id, 10_000));
        var half = ids.Count(id => EvalSamplerJob.Selected(id, 500_000));

        Assert.Equal(onePercent, again);
        Assert.InRange(onePercent, 140, 260);
        Assert.InRange(half, 9_500, 10_500);
        Assert.DoesNotContain(ids, id => EvalSamplerJob.Selected(id, 0));
        Assert.All(ids.Take(100), id => Assert.True(EvalSamplerJob.Selected(id, 1_000_000)));
        // A call in the 1 % sample is in every larger sample too: raising a rate keeps what was picked.
        Assert.All(ids.Where(id => EvalSamplerJob.Selected(id, 10_000)), id => Assert.True(EvalSamplerJob.Selected(id, 500_000)));
    }

    [Fact]
    public async Task Sampler_TwoRuns_QueueExactlyTheHashedCallsOfRatedFeaturesOnce_WithTheRedactedConversation()
    {
        await SetRateAsync(DemoData.AcmeId, "checkout", 50);
        var checkout = await CallsAsync(DemoData.AcmeId, "checkout", 16);
        var other = await CallsAsync(DemoData.AcmeId, "search", 4);
        var globex = await CallsAsync(DemoData.GlobexId, "checkout", 4);

        var first = await Sampler.RunAsync(CancellationToken.None);
        var second = await Sampler.RunAsync(CancellationToken.None);

        var expected = checkout.Where(id => EvalSamplerJob.Selected(id, 500_000)).Order().ToList();
        await using var db = _h.Factory.ForSystem();
        var candidates = await db.EvalCandidates.AsNoTracking().ToListAsync();
        Assert.Equal(expected, candidates.Select(c => c.CallId).Order().ToList());
        Assert.Equal((expected.Count, 0), (first.Queued, second.Queued));
        Assert.Equal(checkout.Count + other.Count + globex.Count, first.CallsRead);
        Assert.All(candidates, c => Assert.Equal((DemoData.AcmeId, "checkout", EvalCandidateStatus.Pending), (c.TenantId, c.Feature, c.Status)));
        var rows = (await ReviewAs(Editor()).PendingAsync(null, CancellationToken.None)).Rows;
        Assert.All(rows, r =>
        {
            Assert.Equal(["system", "user"], r.Input.Messages!.Select(m => m.Role));
            Assert.StartsWith("Where is my order #", r.Input.Messages![1].Content, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(r.Answer));
        });
        var calls = await db.Calls.AsNoTracking().Where(c => expected.Contains(c.Id)).ToDictionaryAsync(c => c.Id, c => c.TraceId);
        Assert.All(candidates, c => Assert.Equal(calls[c.CallId], c.TraceId));
    }

    [Fact]
    public async Task Sampler_Watermark_NoRateMovesPastHistory_ThenEachRunReadsOnlyTheNewCalls()
    {
        var history = await CallsAsync(DemoData.AcmeId, "checkout", 3);
        var idle = await Sampler.RunAsync(CancellationToken.None);
        await SetRateAsync(DemoData.AcmeId, "checkout", 100);
        var fresh = await CallsAsync(DemoData.AcmeId, "checkout", 4);
        var run1 = await Sampler.RunAsync(CancellationToken.None);
        var later = await CallsAsync(DemoData.AcmeId, "checkout", 2);
        var run2 = await Sampler.RunAsync(CancellationToken.None);
        var run3 = await Sampler.RunAsync(CancellationToken.None);

        await using var db = _h.Factory.ForSystem();
        var maxIngested = await db.Calls.AsNoTracking().MaxAsync(c => c.IngestedUtc);
        var state = await db.EvalSamplerStates.AsNoTracking().SingleAsync(s => s.Name == EvalSamplerJob.StateName);
        Assert.Equal((0, 0), (idle.CallsRead, idle.Queued));
        Assert.NotNull(idle.WatermarkUtc);
        Assert.Equal((4, 4), (run1.CallsRead, run1.Queued));
        Assert.Equal((2, 2), (run2.CallsRead, run2.Queued));
        Assert.Equal((0, 0), (run3.CallsRead, run3.Queued));
        Assert.Equal(maxIngested, state.WatermarkUtc);
        var queued = await db.EvalCandidates.AsNoTracking().Select(c => c.CallId).ToListAsync();
        Assert.Equal(fresh.Concat(later).Order(), queued.Order());
        Assert.DoesNotContain(history, queued.Contains);
    }

    [Fact]
    public async Task Accept_TwoReviewersAtOnce_OneExampleIsWritten_TheOtherIsToldAndWritesNothing()
    {
        await SetRateAsync(DemoData.AcmeId, "checkout", 100);
        await CallsAsync(DemoData.AcmeId, "checkout", 4);
        await Sampler.RunAsync(CancellationToken.None);
        var candidates = (await ReviewAs(Editor()).PendingAsync(null, CancellationToken.None)).Rows;

        var outcomes = new List<(int Accepted, int Conflicts)>();
        foreach (var c in candidates)
        {
            var first = ReviewAs(Editor("reviewer-a"));
            var second = ReviewAs(TenantAdmin(DemoData.AcmeId, "reviewer-b"));
            var tries = await Task.WhenAll(Try(() => first.AcceptAsync(c.Id, new EvalCandidateAccept(null, null, null, null), CancellationToken.None)),
                Try(() => second.AcceptAsync(c.Id, new EvalCandidateAccept(null, "Expected text", [new EvalExpectation(EvalExpectation.Contains, "order")], null), CancellationToken.None)));
            outcomes.Add((tries.Count(t => t is null), tries.Count(t => t?.Code == EvalException.Conflict)));
        }

        Assert.All(outcomes, o => Assert.Equal((1, 1), o));
        await using var db = _h.Factory.ForSystem();
        var examples = await db.EvalExamples.AsNoTracking().Where(e => e.EvalSet == "feature:checkout").ToListAsync();
        Assert.Equal(candidates.Select(c => c.CallId).Order(), examples.Select(e => e.SourceCallId!.Value).Order());
        Assert.All(examples, e => Assert.Equal(DemoData.AcmeId, e.TenantId));
        var rows = await db.EvalCandidates.AsNoTracking().ToListAsync();
        Assert.All(rows, r => Assert.Equal(EvalCandidateStatus.Accepted, r.Status));
        Assert.Equal(examples.Select(e => e.Id).Order(), rows.Select(r => r.AcceptedExampleId!.Value).Order());
        Assert.Equal(candidates.Count, await db.AuditLog.CountAsync(a => a.Action == "eval_candidate.accept"));
        var set = await db.EvalSets.AsNoTracking().SingleAsync(s => s.Name == "feature:checkout");
        Assert.Equal((DemoData.AcmeId, "checkout"), (set.TenantId, set.Feature));
        var late = await Assert.ThrowsAsync<EvalException>(() => ReviewAs(Editor()).DiscardAsync(candidates[0].Id, CancellationToken.None));
        Assert.Equal(EvalException.Conflict, late.Code);
    }

    private static async Task<EvalException?> Try(Func<Task> action)
    {
        try
        {
            await action();
            return null;
        }
        catch (EvalException ex)
        {
            return ex;
        }
    }

    [Fact]
    public async Task Review_DiscardAndBadAccepts_AreRefusedOrAudited_AndTheCountFollows()
    {
        await SetRateAsync(DemoData.AcmeId, "checkout", 100);
        await CallsAsync(DemoData.AcmeId, "checkout", 3);
        await Sampler.RunAsync(CancellationToken.None);
        var review = ReviewAs(Editor());
        var (rows, pending) = await review.PendingAsync(null, CancellationToken.None);
        var globexSet = await _h.Sets.CreateFeatureSetAsync("checkout", DemoData.GlobexId, null, CancellationToken.None);
        var promptSet = await _h.SetAsync(DemoData.AcmeId, "What are your hours?");

        await review.DiscardAsync(rows[0].Id, CancellationToken.None);
        var badScorer = await Assert.ThrowsAsync<EvalException>(() => review.AcceptAsync(rows[1].Id,
            new EvalCandidateAccept(null, null, [new EvalExpectation(EvalExpectation.Regex, "(")], null), CancellationToken.None));
        var otherTenant = await Assert.ThrowsAsync<EvalException>(() => review.AcceptAsync(rows[1].Id, new EvalCandidateAccept(globexSet.Id, null, null, null), CancellationToken.None));
        var intoPrompt = await review.AcceptAsync(rows[2].Id, new EvalCandidateAccept(promptSet.Id, "A reply", null, "from production"), CancellationToken.None);
        var nobody = await Assert.ThrowsAsync<EvalException>(() => ReviewAs(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Role, Roles.Support)], "test")))
            .PendingAsync(null, CancellationToken.None));

        Assert.Equal(3, pending);
        Assert.Equal((EvalException.Invalid, EvalException.NotFound, EvalException.Forbidden), (badScorer.Code, otherTenant.Code, nobody.Code));
        Assert.Equal(1, await review.PendingCountAsync(CancellationToken.None));
        await using var db = _h.Factory.ForSystem();
        var statuses = await db.EvalCandidates.AsNoTracking().ToDictionaryAsync(c => c.Id, c => c.Status);
        Assert.Equal((EvalCandidateStatus.Discarded, EvalCandidateStatus.Pending, EvalCandidateStatus.Accepted),
            (statuses[rows[0].Id], statuses[rows[1].Id], statuses[rows[2].Id]));
        var example = await db.EvalExamples.AsNoTracking().SingleAsync(e => e.Id == intoPrompt);
        Assert.Equal(("reply", "A reply", "from production", (Guid?)rows[2].CallId), (example.EvalSet, example.ExpectedOutput, example.Notes, example.SourceCallId));
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Action == "eval_candidate.discard" && a.TenantId == DemoData.AcmeId));
        Assert.Equal(0, await db.EvalExamples.CountAsync(e => e.TenantId == DemoData.GlobexId));
    }

    [Fact]
    public async Task Candidates_AnotherTenantsAdmin_SeesNoneAndCannotReviewThem_RowLevelSecurityOnPostgres()
    {
        await SetRateAsync(DemoData.AcmeId, "checkout", 100);
        await CallsAsync(DemoData.AcmeId, "checkout", 2);
        await Sampler.RunAsync(CancellationToken.None);
        var acme = await ReviewAs(TenantAdmin(DemoData.AcmeId, "ada")).PendingAsync(null, CancellationToken.None);
        var globexAdmin = ReviewAs(TenantAdmin(DemoData.GlobexId, "gus"));

        var globex = await globexAdmin.PendingAsync(null, CancellationToken.None);
        var accept = await Assert.ThrowsAsync<EvalException>(() => globexAdmin.AcceptAsync(acme.Rows[0].Id, new EvalCandidateAccept(null, null, null, null), CancellationToken.None));
        var discard = await Assert.ThrowsAsync<EvalException>(() => globexAdmin.DiscardAsync(acme.Rows[0].Id, CancellationToken.None));
        var rate = await Assert.ThrowsAsync<EvalException>(() => globexAdmin.SetRateAsync(DemoData.AcmeId, "checkout", 5, CancellationToken.None));

        Assert.Equal((2, 2), (acme.Pending, acme.Rows.Count));
        Assert.Equal((0, 0), (globex.Pending, globex.Rows.Count));
        Assert.Equal((EvalException.NotFound, EvalException.NotFound, EvalException.NotFound), (accept.Code, discard.Code, rate.Code));
        await using var db = _h.Factory.ForTenant(DemoData.GlobexId);
        Assert.Equal(0, await db.EvalCandidates.CountAsync());
        if (Provider == "postgres")
        {
            // Without the application's filter the database itself returns none of Acme's rows (forced RLS).
            Assert.Equal(0, await db.EvalCandidates.IgnoreQueryFilters().CountAsync());
            Assert.Equal(0, await db.EvalSamplingRates.IgnoreQueryFilters().CountAsync());
        }

        await using var system = _h.Factory.ForSystem();
        Assert.All(await system.EvalCandidates.AsNoTracking().ToListAsync(), c => Assert.Equal(EvalCandidateStatus.Pending, c.Status));
    }

    [Fact]
    public async Task Accept_TenantAdmin_CraftedSetIdOfAnotherTenantOrAGlobalSet_IsNotFound_AndWritesNothing()
    {
        await SetRateAsync(DemoData.AcmeId, "checkout", 100);
        await CallsAsync(DemoData.AcmeId, "checkout", 1);
        await Sampler.RunAsync(CancellationToken.None);
        var ada = ReviewAs(TenantAdmin(DemoData.AcmeId, "ada"));
        var candidate = Assert.Single((await ada.PendingAsync(null, CancellationToken.None)).Rows);
        var globexSet = await _h.Sets.CreateFeatureSetAsync("checkout", DemoData.GlobexId, null, CancellationToken.None);
        var globalSet = await _h.Sets.CreateFeatureSetAsync("checkout", null, null, CancellationToken.None);
        var acmeSet = await _h.Sets.CreateFeatureSetAsync("checkout", DemoData.AcmeId, null, CancellationToken.None);

        var targets = await ada.TargetSetsAsync(candidate, _h.Sets, CancellationToken.None);
        var intoGlobex = await Assert.ThrowsAsync<EvalException>(() => ada.AcceptAsync(candidate.Id, new EvalCandidateAccept(globexSet.Id, null, null, null), CancellationToken.None));
        var intoGlobal = await Assert.ThrowsAsync<EvalException>(() => ada.AcceptAsync(candidate.Id, new EvalCandidateAccept(globalSet.Id, null, null, null), CancellationToken.None));
        // Another tenant's admin handing in Acme's candidate row (as a page would hold it) learns none of Acme's sets.
        var gusTargets = await Assert.ThrowsAsync<EvalException>(() => ReviewAs(TenantAdmin(DemoData.GlobexId, "gus")).TargetSetsAsync(candidate, _h.Sets, CancellationToken.None));

        Assert.Equal([acmeSet.Id], targets.Select(t => t.Id));
        Assert.Equal((EvalException.NotFound, EvalException.NotFound, EvalException.NotFound), (intoGlobex.Code, intoGlobal.Code, gusTargets.Code));
        await using var db = _h.Factory.ForSystem();
        Assert.Equal(0, await db.EvalExamples.CountAsync());
        Assert.Equal(EvalCandidateStatus.Pending, (await db.EvalCandidates.AsNoTracking().SingleAsync(c => c.Id == candidate.Id)).Status);
        Assert.Equal(0, await db.AuditLog.CountAsync(a => a.Action == "eval_candidate.accept"));
    }

    [Theory]
    [InlineData("checkout", 100.5)]
    [InlineData("checkout", -1)]
    [InlineData("checkout", double.NaN)]
    [InlineData("has space", 1)]
    [InlineData("eval", 1)]
    public async Task SetRate_BadValue_IsRefusedAndNothingIsStored(string feature, double percent)
    {
        var error = await Assert.ThrowsAsync<EvalException>(() => ReviewAs(Editor()).SetRateAsync(DemoData.AcmeId, feature, percent, CancellationToken.None));

        Assert.Equal(EvalException.Invalid, error.Code);
        await using var db = _h.Factory.ForSystem();
        Assert.Equal(0, await db.EvalSamplingRates.CountAsync());
        Assert.Equal(0, await db.AuditLog.CountAsync(a => a.Action == "eval_sampling.set"));
    }

    [Fact]
    public async Task SetRate_ByTheTenantAdmin_IsStoredInPartsPerMillion_AndAuditedWithTheRateBefore()
    {
        var admin = ReviewAs(TenantAdmin(DemoData.AcmeId, "ada"));

        await admin.SetRateAsync(DemoData.AcmeId, "checkout", 1, CancellationToken.None);
        var changed = await admin.SetRateAsync(DemoData.AcmeId, "checkout", 0.25, CancellationToken.None);
        var rates = await admin.RatesAsync(DemoData.AcmeId, CancellationToken.None);

        Assert.Equal(0.25, changed.RatePercent);
        Assert.Equal(("checkout", 0.25), (Assert.Single(rates).Feature, rates[0].RatePercent));
        await using var db = _h.Factory.ForSystem();
        Assert.Equal(2_500, (await db.EvalSamplingRates.AsNoTracking().SingleAsync()).RatePpm);
        var audits = await db.AuditLog.AsNoTracking().Where(a => a.Action == "eval_sampling.set").OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(2, audits.Count);
        Assert.All(audits, a => Assert.Equal(DemoData.AcmeId, a.TenantId));
        Assert.Contains("\"beforePercent\":1", audits[1].MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JudgeScorer_ManagedPrompt_EachResultRecordsTheVersion_RollbackUsesTheOlderOne_MalformedVerdictStillFails()
    {
        var set = await _h.Sets.CreateFeatureSetAsync("support", DemoData.AcmeId, null, CancellationToken.None);
        await _h.Sets.AddExampleAsync(set.Id, new EvalExampleInput(null, [new EvalMessage("user", "Can I get a refund?")], "Yes, within 30 days.",
            [new EvalExpectation(EvalExpectation.Judge, "Says whether a refund is possible.", Alias: "smart")], null), "editor", CancellationToken.None);
        var builtIn = await RunAsync(set.Id);
        Guid v1, v2;
        await using (var db = _h.Factory.ForSystem())
        {
            var prompt = new Prompt { Id = Guid.NewGuid(), Name = EvalScorers.JudgePromptName, CreatedUtc = DateTime.UtcNow };
            db.Prompts.Add(prompt);
            db.PromptVersions.Add(JudgeVersion(prompt.Id, 1, "JUDGE-ONE"));
            db.PromptVersions.Add(JudgeVersion(prompt.Id, 2, "JUDGE-TWO"));
            await db.SaveChangesAsync();
            v1 = await db.PromptVersions.Where(v => v.PromptId == prompt.Id && v.Number == 1).Select(v => v.Id).SingleAsync();
            v2 = await db.PromptVersions.Where(v => v.PromptId == prompt.Id && v.Number == 2).Select(v => v.Id).SingleAsync();
        }

        var newest = await RunAsync(set.Id);
        await ActivateAsync(v2);
        var active = await RunAsync(set.Id);
        await ActivateAsync(v1); // the rollback
        var rolledBack = await RunAsync(set.Id);

        Assert.Equal(((Guid?)null, (int?)null), (builtIn.JudgePromptVersionId, builtIn.JudgePromptVersion));
        Assert.Equal(((Guid?)v2, (int?)2), (newest.JudgePromptVersionId, newest.JudgePromptVersion));
        Assert.Equal(((Guid?)v2, (int?)2), (active.JudgePromptVersionId, active.JudgePromptVersion));
        Assert.Equal(((Guid?)v1, (int?)1), (rolledBack.JudgePromptVersionId, rolledBack.JudgePromptVersion));
        // The simulated model does not answer in the verdict's JSON: the example fails with the reason, as before.
        Assert.All([builtIn, newest, active, rolledBack], r =>
        {
            Assert.Null(r.Error);
            Assert.False(r.Passed);
            Assert.Contains("judge", r.Reasons, StringComparison.Ordinal);
        });
        // The judge's own call carried the version's instructions.
        await _h.Services.GetRequiredService<IRecordedCalls>().FlushAsync(CancellationToken.None);
        await using var read = _h.Factory.ForSystem();
        var judgeCalls = await read.Calls.AsNoTracking().Where(c => c.Feature == "eval" && c.Alias == "smart").OrderBy(c => c.CreatedUtc).Select(c => c.Id).ToListAsync();
        var payloads = await _h.Services.GetRequiredService<IRecordedCallPayloads>().ReadAsync(judgeCalls, CancellationToken.None);
        var systems = judgeCalls.Select(id => payloads[id].Messages.First(m => m.Role == "system").Content).ToList();
        Assert.Equal(4, systems.Count);
        Assert.StartsWith("You grade", systems[0], StringComparison.Ordinal);
        Assert.Equal(["JUDGE-TWO grades.", "JUDGE-TWO grades.", "JUDGE-ONE grades."], systems.Skip(1));
    }

    private static PromptVersion JudgeVersion(Guid promptId, int number, string marker) => new()
    {
        Id = Guid.NewGuid(), PromptId = promptId, Number = number, SystemTemplate = $"{marker} grades.",
        UserTemplate = "Rubric: {{rubric}}\nRequest: {{request}}\nReference: {{reference}}\n<answer>{{answer}}</answer>",
        ModelAlias = "smart", Temperature = 0, CreatedByUserId = "file", CreatedUtc = DateTime.UtcNow,
    };

    private async Task ActivateAsync(Guid versionId)
    {
        await using var db = _h.Factory.ForSystem();
        var promptId = await db.PromptVersions.Where(v => v.Id == versionId).Select(v => v.PromptId).SingleAsync();
        db.PromptActivations.Add(new PromptActivation { PromptId = promptId, VersionId = versionId, ActivatedByUserId = "editor", ActivatedUtc = DateTime.UtcNow });
        await db.SaveChangesAsync();
    }

    private async Task<EvalResult> RunAsync(Guid setId)
    {
        var run = await _h.Store.CreateAsync(new EvalRunRequest(setId, null, "fast", EvalRunTrigger.Manual), Starter, CancellationToken.None);
        Assert.True(await _h.Store.ClaimAsync(run.Id, "w", CancellationToken.None));
        Assert.Equal(EvalRunStatus.Done, await _h.Job.RunClaimedAsync(run.Id, "w", CancellationToken.None));
        await using var db = _h.Factory.ForSystem();
        return await db.EvalResults.AsNoTracking().SingleAsync(r => r.RunId == run.Id);
    }
}

public sealed class SqliteEvalFeatureSamplingTests : EvalFeatureSamplingTests
{
    protected override string Provider => "sqlite";
}

public sealed class PostgresEvalFeatureSamplingTests : EvalFeatureSamplingTests
{
    protected override string Provider => "postgres";
}
