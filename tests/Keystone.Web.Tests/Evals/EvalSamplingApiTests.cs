using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary><c>/api/v1/evals/sampling</c> and the feature form of <c>POST /api/v1/evals/runs</c> over the real app with Acme's admin key.</summary>
public sealed class EvalSamplingApiTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private HttpClient Client()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");

    private static string NewFeature() => $"f-{Guid.NewGuid():N}"[..14];

    [Theory]
    [InlineData("""{"feature": "checkout"}""", "invalid_request_error", "ratePercent")]
    [InlineData("""{"feature": "checkout", "ratePercent": 101}""", "invalid_request_error", "ratePercent")]
    [InlineData("""{"feature": "checkout", "ratePercent": "1"}""", "invalid_request_error", "ratePercent")]
    [InlineData("""{"feature": "a b", "ratePercent": 1}""", "invalid_request_error", "feature")]
    [InlineData("""{"ratePercent": 1}""", "invalid_request_error", "feature")]
    [InlineData("""{"feature": "eval", "ratePercent": 1}""", "invalid_eval", null)]
    public async Task PutSampling_BadBody_Answers400WithItsCode_AndStoresNothing(string body, string code, string? param)
    {
        using var client = Client();
        await using var before = fixture.App.CreateSystemDb();
        var rates = await before.EvalSamplingRates.CountAsync();

        using var response = await client.PutAsync("/api/v1/evals/sampling", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is not null)
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
        }

        await using var after = fixture.App.CreateSystemDb();
        Assert.Equal(rates, await after.EvalSamplingRates.CountAsync());
    }

    [Fact]
    public async Task PutSampling_SetsTheKeysTenantsRate_ThenGetListsIt_AndTheChangeIsAudited()
    {
        using var client = Client();
        var feature = NewFeature();

        using var put = await client.PutAsync("/api/v1/evals/sampling", Json($$"""{"feature": "{{feature}}", "ratePercent": 2.5}"""));
        var list = await client.GetFromJsonAsync<JsonElement>("/api/v1/evals/sampling");

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(2.5, (await put.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ratePercent").GetDouble());
        var row = list.GetProperty("data").EnumerateArray().Single(r => r.GetProperty("feature").GetString() == feature);
        Assert.Equal(2.5, row.GetProperty("ratePercent").GetDouble());
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.EvalSamplingRates.AsNoTracking().SingleAsync(r => r.Feature == feature);
        Assert.Equal((DemoData.AcmeId, 25_000), (stored.TenantId, stored.RatePpm));
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "eval_sampling.set" && a.Target == $"eval_sampling:{feature}" && a.TenantId == DemoData.AcmeId));
    }

    [Theory]
    [InlineData("""{"feature": "bad label!"}""", "feature")]
    [InlineData("""{"feature": "checkout", "version": 2}""", "version")]
    [InlineData("""{"setId": "00000000-0000-0000-0000-000000000001", "feature": "checkout"}""", "feature")]
    public async Task PostRun_BadFeatureBody_Answers400NamingTheField(string body, string param)
    {
        using var client = Client();

        using var response = await client.PostAsync("/api/v1/evals/runs", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task PostRun_ByFeature_QueuesTheTenantsFeatureSetOnTheAlias_WithoutAnAlias400_UnknownFeature404()
    {
        var feature = NewFeature();
        await using (var scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo"))
        {
            var store = scope.ServiceProvider.GetRequiredService<EvalSetStore>();
            var set = await store.CreateFeatureSetAsync(feature, DemoData.AcmeId, null, CancellationToken.None);
            await store.AddExampleAsync(set.Id, new EvalExampleInput(null, [new EvalMessage("user", "Where is my order?")], null,
                [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        }

        using var client = Client();

        using var noAlias = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"feature": "{{feature}}"}"""));
        using var unknown = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"feature": "{{NewFeature()}}", "alias": "fast"}"""));
        using var accepted = await client.PostAsync("/api/v1/evals/runs", Json($$"""{"feature": "{{feature}}", "alias": "fast"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, noAlias.StatusCode);
        Assert.Equal("alias", (await ErrorOf(noAlias)).GetProperty("param").GetString());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        await using var db = fixture.App.CreateSystemDb();
        var run = await db.EvalRuns.AsNoTracking().SingleAsync(r => r.Id == id);
        Assert.Equal(($"feature:{feature}", "fast", (Guid?)null, (Guid?)DemoData.AcmeId), (run.SetName, run.Alias, run.PromptVersionId, run.TenantId));
    }
}
