using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary><c>PUT /api/v1/evals/nightly</c> over the real app (SQLite) with Acme's admin key: a feature set's nightly alias.</summary>
public sealed class EvalNightlyApiTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private HttpClient Client()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<EvalSetRow> FeatureSetAsync(Guid tenantId)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<EvalSetStore>().CreateFeatureSetAsync($"n-{Guid.NewGuid():N}"[..14], tenantId, null, CancellationToken.None);
    }

    private async Task<string?> StoredAliasAsync(Guid setId)
    {
        await using var db = fixture.App.CreateSystemDb();
        return await db.EvalSets.AsNoTracking().Where(s => s.Id == setId).Select(s => s.NightlyAlias).SingleAsync();
    }

    [Fact]
    public async Task Put_ChoosesTheAlias_ThenTheSameAgainChangesNothing_AndNullStopsIt()
    {
        var set = await FeatureSetAsync(DemoData.AcmeId);
        using var client = Client();

        var chosen = await client.PutAsync("/api/v1/evals/nightly", Json($$"""{"feature": "{{set.Feature}}", "alias": "fast"}"""));
        var stored = await StoredAliasAsync(set.Id);
        var same = await client.PutAsync("/api/v1/evals/nightly", Json($$"""{"feature": "{{set.Feature}}", "alias": "fast"}"""));
        var stopped = await client.PutAsync("/api/v1/evals/nightly", Json($$"""{"feature": "{{set.Feature}}", "alias": null}"""));

        Assert.Equal(HttpStatusCode.OK, chosen.StatusCode);
        var body = await chosen.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((set.Id, "fast", true), (body.GetProperty("setId").GetGuid(), body.GetProperty("nightlyAlias").GetString(), body.GetProperty("changed").GetBoolean()));
        Assert.Equal("fast", stored);
        Assert.False((await same.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("changed").GetBoolean());
        Assert.True((await stopped.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("changed").GetBoolean());
        Assert.Null(await StoredAliasAsync(set.Id));
    }

    [Theory]
    [InlineData("""{"alias": "fast"}""", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("""{"feature": "a b", "alias": "fast"}""", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("""{"feature": "FEATURE", "alias": ""}""", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("""{"feature": "FEATURE", "alias": 5}""", HttpStatusCode.BadRequest, "invalid_request_error")]
    [InlineData("""{"feature": "FEATURE", "alias": "no-such-alias"}""", HttpStatusCode.BadRequest, EvalException.Invalid)]
    [InlineData("""{"feature": "checkout-nobody-has", "alias": "fast"}""", HttpStatusCode.NotFound, "not_found")]
    public async Task Put_BadBodyUnknownAliasOrNoSuchSet_AnswersItsCode_AndStoresNothing(string body, HttpStatusCode status, string code)
    {
        var set = await FeatureSetAsync(DemoData.AcmeId);
        using var client = Client();

        using var response = await client.PutAsync("/api/v1/evals/nightly", Json(body.Replace("FEATURE", set.Feature, StringComparison.Ordinal)));

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        Assert.Null(await StoredAliasAsync(set.Id));
    }

    [Fact]
    public async Task Put_AnotherTenantsFeatureSet_Answers404()
    {
        var globex = await FeatureSetAsync(DemoData.GlobexId);
        using var client = Client();

        using var response = await client.PutAsync("/api/v1/evals/nightly", Json($$"""{"feature": "{{globex.Feature}}", "alias": "fast"}"""));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(await StoredAliasAsync(globex.Id));
    }
}
