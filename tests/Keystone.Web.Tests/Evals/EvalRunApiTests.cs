using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary><c>/api/v1/evals/runs</c> over the real app: Acme's admin key runs Acme's set through Hangfire and the gateway.</summary>
public sealed class EvalRunApiTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    // A bound for the run's gateway calls on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private HttpClient Client()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A new prompt with a set of <paramref name="tenantId"/> (or global) holding two examples.</summary>
    private async Task<(string Prompt, EvalSetRow Set)> SetAsync(Guid? tenantId)
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);
        await using var scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        var store = scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var set = await store.CreateSetAsync(name, tenantId, null, CancellationToken.None);
        foreach (var q in new[] { "What are your hours?", "Do you ship abroad?" })
        {
            await store.AddExampleAsync(set.Id, new EvalExampleInput(new Dictionary<string, string> { ["question"] = q, ["company"] = "Acme" }, null, null,
                [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        }

        return (name, set);
    }

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");

    [Fact]
    public async Task Post_ByPromptName_Answers202WithTheRun_ThenGetShowsItDoneWithScoreAndCost()
    {
        var (prompt, set) = await SetAsync(DemoData.AcmeId);
        using var client = Client();

        using var posted = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"prompt": "{{prompt}}", "version": 2, "alias": "fast"}"""));

        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var accepted = await posted.Content.ReadFromJsonAsync<JsonElement>();
        var id = accepted.GetProperty("id").GetGuid();
        Assert.Equal($"/api/v1/evals/runs/{id}", posted.Headers.Location!.OriginalString);
        Assert.Equal(2, accepted.GetProperty("total").GetInt32());
        JsonElement run = default;
        var until = DateTime.UtcNow + Wait;
        do
        {
            await Task.Delay(200);
            run = await client.GetFromJsonAsync<JsonElement>($"/api/v1/evals/runs/{id}");
        }
        while (run.GetProperty("status").GetString() is "queued" or "running" && DateTime.UtcNow < until);

        Assert.Equal("done", run.GetProperty("status").GetString());
        Assert.Equal((set.Id, 2, "fast", "api"), (run.GetProperty("setId").GetGuid(), run.GetProperty("version").GetInt32(),
            run.GetProperty("alias").GetString(), run.GetProperty("trigger").GetString()));
        Assert.Equal((2, 2, 1.0), (run.GetProperty("completed").GetInt32(), run.GetProperty("passed").GetInt32(), run.GetProperty("progress").GetDouble()));
        Assert.Equal(100, run.GetProperty("score").GetDouble());
        Assert.Equal(1.0, run.GetProperty("passRate").GetDouble());
        Assert.True(run.GetProperty("costMicros").GetInt64() > 0);
        await using var db = fixture.App.CreateSystemDb();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "eval_run.start" && a.Target == $"eval_run:{id}");
        Assert.Equal(("api_key", (Guid?)DemoData.AcmeId), (audit.ActorType, audit.TenantId));
    }

    [Theory]
    [InlineData("""{"alias": "fast"}""", "setId")]
    [InlineData("""{"setId": "00000000-0000-0000-0000-000000000001", "prompt": "x"}""", "prompt")]
    [InlineData("""{"setId": "not-a-guid"}""", "setId")]
    [InlineData("""{"prompt": "support-reply", "version": 0}""", "version")]
    [InlineData("""{"prompt": "support-reply", "alias": 5}""", "alias")]
    [InlineData("""[1, 2]""", "body")]
    public async Task Post_BadBody_Answers400NamingTheField_AndQueuesNothing(string body, string param)
    {
        using var client = Client();
        await using var before = fixture.App.CreateSystemDb();
        var runs = await before.EvalRuns.CountAsync();

        using var response = await client.PostAsync("/api/v1/evals/runs", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal(("invalid_request_error", param), (error.GetProperty("code").GetString(), error.GetProperty("param").GetString()));
        await using var after = fixture.App.CreateSystemDb();
        Assert.Equal(runs, await after.EvalRuns.CountAsync());
    }

    [Fact]
    public async Task Post_AnotherTenantsOrTheGlobalSet_Answers404_AsDoesAnUnknownVersion()
    {
        var (_, globex) = await SetAsync(DemoData.GlobexId);
        var (globalPrompt, global) = await SetAsync(null);
        var (acmePrompt, _) = await SetAsync(DemoData.AcmeId);
        using var client = Client();

        using var foreign = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"setId": "{{globex.Id}}"}"""));
        using var platform = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"setId": "{{global.Id}}"}"""));
        using var byGlobalPrompt = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"prompt": "{{globalPrompt}}"}"""));
        using var noVersion = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"prompt": "{{acmePrompt}}", "version": 99}"""));

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, platform.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, byGlobalPrompt.StatusCode);
        Assert.Equal("not_found", (await ErrorOf(foreign)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, noVersion.StatusCode);
        Assert.Contains("no version 99", (await ErrorOf(noVersion)).GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_AnotherTenantsRun_Answers404_ABadId400_AndNoKey401()
    {
        var (_, globex) = await SetAsync(DemoData.GlobexId);
        await using var scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        var run = await scope.ServiceProvider.GetRequiredService<EvalRunStore>().CreateAsync(
            new EvalRunRequest(globex.Id, null, "fast", EvalRunTrigger.Manual), new EvalRunStarter("editor", null), CancellationToken.None);
        await scope.ServiceProvider.GetRequiredService<EvalRunStore>().CancelAsync(run.Id, CancellationToken.None);
        using var client = Client();
        using var anonymous = fixture.App.CreateClient();

        using var foreign = await client.GetAsync($"/api/v1/evals/runs/{run.Id}");
        using var bad = await client.GetAsync("/api/v1/evals/runs/not-a-guid");
        using var noKey = await anonymous.GetAsync($"/api/v1/evals/runs/{run.Id}");

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("id", (await ErrorOf(bad)).GetProperty("param").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
    }
}
