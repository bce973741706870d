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

/// <summary><c>POST /api/v1/evals/runs</c> with <c>mode</c> over the real app (decision 0049): batch runs are submitted at once, bad modes refused.</summary>
public sealed class EvalBatchApiTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private HttpClient Client()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<string> PromptWithAcmeSetAsync()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);
        await using var scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        var store = scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var set = await store.CreateSetAsync(name, DemoData.AcmeId, null, CancellationToken.None);
        foreach (var q in new[] { "What are your hours?", "Do you ship abroad?" })
        {
            await store.AddExampleAsync(set.Id, new EvalExampleInput(new Dictionary<string, string> { ["question"] = q, ["company"] = "Acme" }, null, null,
                [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        }

        return name;
    }

    [Fact]
    public async Task Post_ModeBatch_SubmitsTheProviderBatchAtOnce_AndGetShowsModeAndBatchStatus()
    {
        var prompt = await PromptWithAcmeSetAsync();
        using var client = Client();

        using var posted = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"prompt": "{{prompt}}", "version": 2, "alias": "fast", "mode": "batch"}"""));

        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var accepted = await posted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("running", accepted.GetProperty("status").GetString());
        var run = await client.GetFromJsonAsync<JsonElement>($"/api/v1/evals/runs/{accepted.GetProperty("id").GetGuid()}");
        Assert.Equal("batch", run.GetProperty("mode").GetString());
        var batch = run.GetProperty("batch");
        Assert.StartsWith("batch_sim_", batch.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal((2, "sim/sim-fast"), (batch.GetProperty("total").GetInt32(), batch.GetProperty("model").GetString()));
        Assert.True(batch.GetProperty("heldMicros").GetInt64() > 0);
        await using var db = fixture.App.CreateSystemDb();
        var row = await db.EvalRuns.AsNoTracking().SingleAsync(r => r.Id == accepted.GetProperty("id").GetGuid());
        Assert.Equal((EvalRunMode.Batch, batch.GetProperty("id").GetString()), (row.Mode, row.ProviderBatchId));
    }

    [Theory]
    [InlineData("""{"prompt": "support-reply", "mode": "bulk"}""")]
    [InlineData("""{"prompt": "support-reply", "mode": 2}""")]
    public async Task Post_BadMode_Answers400NamingMode_AndCreatesNoRun(string body)
    {
        using var client = Client();
        await using var before = fixture.App.CreateSystemDb();
        var runs = await before.EvalRuns.CountAsync();

        using var response = await client.PostAsync("/api/v1/evals/runs", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal(("invalid_request_error", "mode"), (error.GetProperty("code").GetString(), error.GetProperty("param").GetString()));
        await using var after = fixture.App.CreateSystemDb();
        Assert.Equal(runs, await after.EvalRuns.CountAsync());
    }
}
