using Keystone.Web.Platform;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary><c>/api/v1/cache-settings</c> over the real app: an admin key sets a feature's caching and the tenant's next calls follow it.</summary>
public sealed class CacheSettingsApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<string> AskAsync(HttpClient chat, string feature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"model":"fast","temperature":0.7,"messages":[{"role":"user","content":"Which plans do you offer?"}]}"""),
        };
        request.Headers.Add("X-Keystone-Feature", feature);
        using var response = await chat.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("X-Keystone-Cache").Single();
    }

    [Fact]
    public async Task Put_EveryRepeat_TheNextRepeatIsCachedAndDeleteGoesBackToThePlatform()
    {
        var (adminKey, adminId) = await fixture.CreateKeyAsync(DemoData.InitechId, "admin");
        var (chatKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "chat");
        var admin = fixture.ClientWith(adminKey);
        var chat = fixture.ClientWith(chatKey);

        var put = await admin.PutAsync("/api/v1/cache-settings/search", Json("""{"cacheEveryRequest":true}"""));
        using var saved = JsonDocument.Parse(await put.Content.ReadAsStringAsync());
        var first = await AskAsync(chat, "search");
        var repeat = await AskAsync(chat, "search");
        using var list = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/cache-settings"));

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(("search", true, true, false, "tenant"), (saved.RootElement.GetProperty("feature").GetString(),
            saved.RootElement.GetProperty("cacheEveryRequest").GetBoolean(), saved.RootElement.GetProperty("cacheAtTemperatureZero").GetBoolean(),
            saved.RootElement.GetProperty("semanticCache").GetBoolean(), saved.RootElement.GetProperty("source").GetString()));
        Assert.Equal(("miss", "exact"), (first, repeat));
        var features = list.RootElement.GetProperty("features").EnumerateArray().ToDictionary(f => f.GetProperty("feature").GetString()!);
        Assert.Equal("tenant", features["search"].GetProperty("source").GetString());
        // The platform's configuration (ApiFixture: faq uses similar questions at 0.85) is listed as the platform's.
        Assert.Equal(("platform", true, 0.85), (features["faq"].GetProperty("source").GetString(),
            features["faq"].GetProperty("semanticCache").GetBoolean(), features["faq"].GetProperty("semanticThreshold").GetDouble()));

        var delete = await admin.DeleteAsync("/api/v1/cache-settings/search");
        var again = await admin.DeleteAsync("/api/v1/cache-settings/search");
        var afterReset = await AskAsync(chat, "search");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("miss", afterReset);
        await using var db = fixture.App.CreateSystemDb();
        var audit = await db.AuditLog.Where(a => a.TenantId == DemoData.InitechId && a.Target == "feature:search").ToListAsync();
        Assert.Equal(["cache.settings", "cache.settings.reset"], audit.OrderBy(a => a.Id).Select(a => a.Action));
        Assert.All(audit, a => Assert.Equal(("api_key", adminId.ToString()), (a.ActorType, a.ActorId)));
    }

    [Fact]
    public async Task Put_OnlySomeFields_KeepsTheOthersAndAFeatureMayHoldASlash()
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "admin");
        var admin = fixture.ClientWith(adminKey);

        (await admin.PutAsync("/api/v1/cache-settings/team/support", Json("""{"semanticCache":true,"semanticThreshold":0.9}"""))).EnsureSuccessStatusCode();
        var second = await admin.PutAsync("/api/v1/cache-settings/team/support", Json("""{"cacheAtTemperatureZero":false}"""));
        using var body = JsonDocument.Parse(await second.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(("team/support", false, true, 0.9), (body.RootElement.GetProperty("feature").GetString(),
            body.RootElement.GetProperty("cacheAtTemperatureZero").GetBoolean(), body.RootElement.GetProperty("semanticCache").GetBoolean(),
            body.RootElement.GetProperty("semanticThreshold").GetDouble()));
    }

    [Theory]
    [InlineData("/api/v1/cache-settings/search", """{"semanticThreshold":0.3}""", "semanticThreshold")]
    [InlineData("/api/v1/cache-settings/search", """{"cacheEveryRequest":"yes"}""", "cacheEveryRequest")]
    [InlineData("/api/v1/cache-settings/search", "[]", "body")]
    [InlineData("/api/v1/cache-settings/has%20space", """{"cacheEveryRequest":true}""", "feature")]
    public async Task Put_BadInput_Answers400NamingTheFieldAndSavesNothing(string url, string body, string param)
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(DemoData.GlobexId, "admin");

        var response = await fixture.ClientWith(adminKey).PutAsync(url, Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.FeatureCacheSettings.AnyAsync(s => s.TenantId == DemoData.GlobexId));
    }

    [Fact]
    public async Task CacheSettings_WithAChatKey_Answers403()
    {
        var (chatKey, _) = await fixture.CreateKeyAsync(DemoData.GlobexId, "chat");
        var client = fixture.ClientWith(chatKey);

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/v1/cache-settings")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PutAsync("/api/v1/cache-settings/search", Json("{}"))).StatusCode);
    }
}
