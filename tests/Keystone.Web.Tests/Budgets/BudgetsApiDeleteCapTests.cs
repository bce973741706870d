using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Budgets;

/// <summary>
/// <c>DELETE /api/v1/budgets/caps?scope=…&amp;key=…&amp;period=…</c> removes one cap of the key's own tenant: 204 once,
/// 404 after (and for the loser of two at once, and for another tenant's cap), 400 naming a bad query parameter.
/// </summary>
public sealed class BudgetsApiDeleteCapTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    [Fact]
    public async Task DeleteCap_ANamedFeatureCap_RemovesThatOneLeavesTheOthersAndIsAudited()
    {
        var admin = await AdminAsync(DemoData.InitechId, "delete one");
        await PutAsync(admin, new { scope = "feature", key = "support/bot", period = "day", limitMicros = 5_000 },
            new { scope = "feature", key = "support/bot", period = "month", limitMicros = 90_000 });

        var removed = await admin.DeleteAsync("/api/v1/budgets/caps?scope=feature&key=support%2Fbot&period=day");
        var again = await admin.DeleteAsync("/api/v1/budgets/caps?scope=feature&key=support%2Fbot&period=day");

        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("not_found", (await ChatCompletionsApiTests.ErrorOf(again)).GetProperty("code").GetString());
        var caps = await FeatureCapsAsync(admin, "support/bot");
        Assert.Equal(["month"], caps);
        await using var db = fixture.App.CreateSystemDb();
        var audit = await db.AuditLog.AsNoTracking().Where(a => a.Action == "budgets.cap.remove" && a.TenantId == DemoData.InitechId).ToListAsync();
        var entry = Assert.Single(audit);
        Assert.Equal("api_key", entry.ActorType);
        Assert.Contains("support/bot", entry.MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteCap_TwoAtOnce_OneRemovesAndTheOtherIsTold404()
    {
        var admin = await AdminAsync(DemoData.GlobexId, "delete race");
        await PutAsync(admin, new { scope = "feature", key = "race-bot", period = "month", limitMicros = 7_000 });

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => admin.DeleteAsync("/api/v1/budgets/caps?scope=feature&key=race-bot&period=month")));

        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.StatusCode != HttpStatusCode.NoContent), a => Assert.Equal(HttpStatusCode.NotFound, a.StatusCode));
        Assert.Empty(await FeatureCapsAsync(admin, "race-bot"));
    }

    [Fact]
    public async Task DeleteCap_AnotherTenantsCap_Answers404AndLeavesIt()
    {
        var acme = await AdminAsync(DemoData.AcmeId, "owner");
        await PutAsync(acme, new { scope = "feature", key = "acme-only", period = "day", limitMicros = 3_000 });
        var globex = await AdminAsync(DemoData.GlobexId, "intruder");

        var response = await globex.DeleteAsync("/api/v1/budgets/caps?scope=feature&key=acme-only&period=day");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(["day"], await FeatureCapsAsync(acme, "acme-only"));
    }

    [Theory]
    [InlineData("scope=team&key=x&period=day", "scope")]
    [InlineData("key=x&period=day", "scope")]
    [InlineData("scope=feature&scope=user&key=x&period=day", "scope")]
    [InlineData("scope=tenant&key=x&period=day", "key")]
    [InlineData("scope=user&period=day", "key")]
    [InlineData("scope=apiKey&key=not-a-guid&period=day", "key")]
    [InlineData("scope=feature&key=two%20words&period=day", "key")]
    [InlineData("scope=tenant&period=week", "period")]
    [InlineData("scope=tenant", "period")]
    public async Task DeleteCap_BadQuery_Answers400NamingTheParameter(string query, string param)
    {
        var admin = await AdminAsync(DemoData.InitechId, "bad query " + param);

        var response = await admin.DeleteAsync("/api/v1/budgets/caps?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task DeleteCap_WithAKeyWithoutTheAdminScope_IsForbidden()
    {
        var (chatKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "chat", "not admin");

        var response = await fixture.ClientWith(chatKey).DeleteAsync("/api/v1/budgets/caps?scope=tenant&period=month");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    private async Task<HttpClient> AdminAsync(Guid tenantId, string name)
    {
        var (secret, _) = await fixture.CreateKeyAsync(tenantId, "admin", name);
        return fixture.ClientWith(secret);
    }

    private static async Task PutAsync(HttpClient admin, params object[] caps)
    {
        var response = await admin.PutAsync("/api/v1/budgets", Json(new { caps }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<List<string>> FeatureCapsAsync(HttpClient admin, string label)
    {
        using var budgets = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/budgets"));
        return budgets.RootElement.GetProperty("caps").EnumerateArray()
            .Where(c => c.GetProperty("scope").GetString() == "feature" && c.GetProperty("key").GetString() == label)
            .Select(c => c.GetProperty("period").GetString()!).Order().ToList();
    }
}
