using System.Net;
using Keystone.Data.Evals;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The run and compare pages over real HTTP (SQLite, demo seed, real sign-in): a tenant admin opens what their drift
/// alerts link to (their tenant's override runs) and their own tenant's set pages (to choose a nightly alias), and
/// nothing of another tenant or of the global scope; platform staff read every run as before; the run page names the
/// judge prompt's version each result was graded with.
/// </summary>
public sealed class EvalRunAccessTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    /// <summary>A set of <paramref name="tenantId"/> (null: global) with two done runs of one example each; the second's result was judged with eval-judge v<paramref name="judgeVersion"/>.</summary>
    private async Task<(EvalSet Set, EvalRun First, EvalRun Second)> RunsAsync(Guid? tenantId, string answer, int? judgeVersion = null)
    {
        var set = new EvalSet
        {
            Id = Guid.NewGuid(), TenantId = tenantId, OwnerKey = EvalSet.OwnerKeyOf(tenantId), Name = $"access-{Guid.NewGuid():N}"[..20], CreatedUtc = DateTime.UtcNow,
        };
        var example = Guid.NewGuid();
        var first = Run(set, example, answer + " (first)", null);
        var second = Run(set, example, answer + " (second)", judgeVersion);
        await using var db = fixture.App.CreateSystemDb();
        db.EvalSets.Add(set);
        db.EvalRuns.AddRange(first, second);
        db.EvalResults.AddRange(Result(first, example, null), Result(second, example, judgeVersion));
        await db.SaveChangesAsync();
        return (set, first, second);
    }

    private static EvalRun Run(EvalSet set, Guid example, string answer, int? judge) => new()
    {
        Id = Guid.NewGuid(), TenantId = set.TenantId, BillingTenantId = set.TenantId ?? DemoData.AcmeId, SetId = set.Id, SetName = set.Name, Alias = "fast",
        Status = EvalRunStatus.Done, Trigger = EvalRunTrigger.Manual, ExampleIdsJson = $"[\"{example}\"]", Total = 1, Completed = 1, Passed = 1, ScoreSum = 1,
        StartedByUserId = "test", StartedByName = answer, CreatedUtc = DateTime.UtcNow.AddMinutes(judge is null ? -10 : -5),
        StartedUtc = DateTime.UtcNow.AddMinutes(-5), FinishedUtc = DateTime.UtcNow.AddMinutes(-4),
    };

    private static EvalResult Result(EvalRun run, Guid example, int? judge) => new()
    {
        Id = Guid.NewGuid(), RunId = run.Id, TenantId = run.TenantId, ExampleId = example, Attempt = 1, Answer = run.StartedByName!, Score = 1, Passed = true,
        Reasons = "judged fine", JudgePromptVersionId = judge is null ? null : Guid.NewGuid(), JudgePromptVersion = judge, CreatedUtc = DateTime.UtcNow,
    };

    private static async Task<(HttpStatusCode Status, string Html)> GetAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TenantAdmin_OpensTheirOwnOverrideRunAndItsCompare()
    {
        var (set, first, second) = await RunsAsync(DemoData.AcmeId, "Acme own answer");
        var admin = await fixture.App.SignInAsync("admin@acme.demo");

        var run = await GetAsync(admin, $"/evals/runs/{second.Id}");
        var compare = await GetAsync(admin, $"/evals/compare?a={first.Id}&b={second.Id}");

        Assert.Equal(HttpStatusCode.OK, run.Status);
        Assert.Contains("Acme own answer (second)", run.Html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"run-score\"", run.Html, StringComparison.Ordinal);
        // The set page admits a tenant admin to their own tenant's sets, so the run links to it for them too.
        Assert.Contains($"/evals/sets/{set.Id}", run.Html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, compare.Status);
        Assert.Contains("data-test=\"compare-rows\"", compare.Html, StringComparison.Ordinal);
        Assert.Contains("Acme own answer (first)", compare.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantAdmin_GetsNotFound_ForAnotherTenantsRun_AGlobalRun_AndACompareWithEither()
    {
        var (_, acmeFirst, _) = await RunsAsync(DemoData.AcmeId, "Acme answer");
        var (_, globexFirst, globexSecond) = await RunsAsync(DemoData.GlobexId, "Globex private answer");
        var (_, globalFirst, _) = await RunsAsync(null, "Platform private answer");
        var admin = await fixture.App.SignInAsync("admin@acme.demo");

        var pages = new[]
        {
            await GetAsync(admin, $"/evals/runs/{globexFirst.Id}"),
            await GetAsync(admin, $"/evals/runs/{globalFirst.Id}"),
            await GetAsync(admin, $"/evals/compare?a={globexFirst.Id}&b={globexSecond.Id}"),
            await GetAsync(admin, $"/evals/compare?a={acmeFirst.Id}&b={globexFirst.Id}"),
            await GetAsync(admin, $"/evals/compare?a={acmeFirst.Id}&b={globalFirst.Id}"),
        };

        Assert.All(pages, p => Assert.Equal(HttpStatusCode.NotFound, p.Status));
        Assert.All(pages, p => Assert.DoesNotContain("private answer", p.Html, StringComparison.Ordinal));
        // Not even "different sets": a foreign run reads as one that does not exist.
        Assert.All(pages, p => Assert.DoesNotContain("different eval sets", p.Html, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TenantAdmin_OpensTheirOwnFeatureSetWithTheNightlyControl_FromTheReviewPage_NotAnotherTenantsOrAGlobalSet_AndAMemberIsRefused()
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        var sets = scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var own = await sets.CreateFeatureSetAsync($"own-{Guid.NewGuid():N}"[..14], DemoData.AcmeId, null, CancellationToken.None);
        var globex = await sets.CreateFeatureSetAsync($"gx-{Guid.NewGuid():N}"[..14], DemoData.GlobexId, null, CancellationToken.None);
        var global = await sets.CreateFeatureSetAsync($"gl-{Guid.NewGuid():N}"[..14], null, null, CancellationToken.None);
        var admin = await fixture.App.SignInAsync("admin@acme.demo");
        var member = await fixture.App.SignInAsync("member@acme.demo");

        var review = await GetAsync(admin, "/evals/review");
        var ownPage = await GetAsync(admin, $"/evals/sets/{own.Id}");
        var foreign = new[] { await GetAsync(admin, $"/evals/sets/{globex.Id}"), await GetAsync(admin, $"/evals/sets/{global.Id}") };
        var asMember = await GetAsync(member, $"/evals/sets/{own.Id}");

        Assert.Equal(HttpStatusCode.OK, review.Status);
        Assert.Contains($"href=\"/evals/sets/{own.Id}\"", review.Html, StringComparison.Ordinal);
        Assert.DoesNotContain($"/evals/sets/{globex.Id}", review.Html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, ownPage.Status);
        Assert.Contains("data-test=\"nightly-alias-save\"", ownPage.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"example-form\"", ownPage.Html, StringComparison.Ordinal);
        Assert.All(foreign, p => Assert.Equal(HttpStatusCode.NotFound, p.Status));
        Assert.DoesNotContain(globex.Name, foreign[0].Html, StringComparison.Ordinal);
        Assert.DoesNotContain(global.Name, foreign[1].Html, StringComparison.Ordinal);
        Assert.All(foreign, p => Assert.DoesNotContain("nightly-panel", p.Html, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Forbidden, asMember.Status);
    }

    [Fact]
    public async Task PlatformStaff_StillReadEveryRun_AndATenantMemberIsRefused()
    {
        var (_, acmeFirst, _) = await RunsAsync(DemoData.AcmeId, "Acme answer");
        var (_, globalFirst, _) = await RunsAsync(null, "Global answer");
        var support = await fixture.App.SignInAsync("support@keystone.demo");
        var member = await fixture.App.SignInAsync("member@acme.demo");

        var supportGlobal = await GetAsync(support, $"/evals/runs/{globalFirst.Id}");
        var supportAcme = await GetAsync(support, $"/evals/runs/{acmeFirst.Id}");
        var memberOwn = await GetAsync(member, $"/evals/runs/{acmeFirst.Id}");

        Assert.Equal(HttpStatusCode.OK, supportGlobal.Status);
        Assert.Contains("Global answer (first)", supportGlobal.Html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, supportAcme.Status);
        Assert.Equal(HttpStatusCode.Forbidden, memberOwn.Status);
    }

    [Fact]
    public async Task RunPage_NamesTheJudgeVersion_LinkedToThePromptPage_ForPromptReaders_AndAsTextForATenantAdmin()
    {
        var (_, first, second) = await RunsAsync(DemoData.AcmeId, "Judged answer", judgeVersion: 2);
        var product = await fixture.App.SignInAsync("product@keystone.demo");
        var admin = await fixture.App.SignInAsync("admin@acme.demo");

        var judged = await GetAsync(product, $"/evals/runs/{second.Id}");
        var unjudged = await GetAsync(product, $"/evals/runs/{first.Id}");
        var asAdmin = await GetAsync(admin, $"/evals/runs/{second.Id}");

        Assert.Contains("data-test=\"run-judge\"", judged.Html, StringComparison.Ordinal);
        Assert.Contains($"href=\"{EvalRunPage.JudgeHref(2)}\"", judged.Html, StringComparison.Ordinal);
        Assert.Equal("/prompts/eval-judge?version=2", EvalRunPage.JudgeHref(2));
        Assert.Contains("judge v2", judged.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"run-judge\"", unjudged.Html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"run-judge\"", asAdmin.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"run-judge-link\"", asAdmin.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResultsExport_CsvAndJsonl_ForWhoeverMayOpenTheRun_AndNotFoundForAnotherTenantsRun()
    {
        var (_, _, acme) = await RunsAsync(DemoData.AcmeId, "=HYPERLINK(\"http://evil\"), then \"quoted\"", judgeVersion: 3);
        var (_, _, globex) = await RunsAsync(DemoData.GlobexId, "Globex private answer");
        var product = await fixture.App.SignInAsync("product@keystone.demo");
        var admin = await fixture.App.SignInAsync("admin@acme.demo");

        var csv = await GetAsync(product, $"/evals/runs/{acme.Id}/results.csv");
        var jsonl = await GetAsync(admin, $"/evals/runs/{acme.Id}/results.jsonl");
        var foreign = await GetAsync(admin, $"/evals/runs/{globex.Id}/results.csv");

        Assert.Equal(HttpStatusCode.OK, csv.Status);
        var lines = csv.Html.TrimEnd('\n').Split('\n');
        Assert.StartsWith("run_id,example_id,attempt,passed,score,", lines[0], StringComparison.Ordinal);
        Assert.Equal(2, lines.Length);
        // An answer is untrusted text: quoted, its quotes doubled, and a leading "=" defused for spreadsheets.
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil\"\"), then \"\"quoted\"\" (second)\"", lines[1], StringComparison.Ordinal);
        Assert.EndsWith(",3", lines[1], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, jsonl.Status);
        var row = System.Text.Json.JsonDocument.Parse(jsonl.Html.Trim()).RootElement;
        Assert.Equal((acme.Id, 3, true), (row.GetProperty("runId").GetGuid(), row.GetProperty("judgePromptVersion").GetInt32(), row.GetProperty("passed").GetBoolean()));
        Assert.Equal(HttpStatusCode.NotFound, foreign.Status);
        Assert.DoesNotContain("Globex private", foreign.Html, StringComparison.Ordinal);
    }

    [Fact]
    public void JudgeVersions_AreTheResultsDistinctVersions_OldestFirst()
    {
        static EvalResultView R(int? v) => new(Guid.NewGuid(), Guid.NewGuid(), 1, "", 1, true, "", null, 0, 0, 0, 0, null, DateTime.UtcNow, v);

        Assert.Equal([1, 3], EvalRunPage.JudgeVersions([R(3), R(null), R(1), R(3)]));
        Assert.Empty(EvalRunPage.JudgeVersions([R(null)]));
    }
}
