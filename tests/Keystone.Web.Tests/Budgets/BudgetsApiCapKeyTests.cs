using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;

namespace Keystone.Web.Tests.Budgets;

/// <summary>
/// <c>PUT /api/v1/budgets</c> refuses cap keys no call can meet, as the budgets page does: a feature label outside the
/// feature-label rule is a 400 naming the field, another tenant's API key id a 404; nothing is stored either way
/// (issue 20, item 9).
/// </summary>
public sealed class BudgetsApiCapKeyTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Theory]
    [InlineData("<img src=x onerror=alert(1)>")]
    [InlineData("two words")]
    [InlineData("café-bot")]
    public async Task PutBudgets_FeatureKeyNoCallCanCarry_Answers400AndStoresNothing(string label)
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "admin", "caps admin");
        var admin = fixture.ClientWith(adminKey);
        var cap = JsonSerializer.Serialize(new { caps = new[] { new { scope = "feature", key = label, period = "day", limitMicros = 5000 } } });

        var response = await admin.PutAsync("/api/v1/budgets", Json(cap));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("caps[0].key", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
        Assert.DoesNotContain(label, await admin.GetStringAsync("/api/v1/budgets"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutBudgets_AnotherTenantsApiKeyId_Answers404AndStoresNothing()
    {
        var (_, acmeKeyId) = await fixture.CreateKeyAsync(DemoData.AcmeId, "chat", "acme key");
        var (globexAdmin, _) = await fixture.CreateKeyAsync(DemoData.GlobexId, "admin", "globex admin");
        var admin = fixture.ClientWith(globexAdmin);
        var cap = JsonSerializer.Serialize(new { caps = new[] { new { scope = "apiKey", key = acmeKeyId.ToString(), period = "day", limitMicros = 1 } } });

        var response = await admin.PutAsync("/api/v1/budgets", Json(cap));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
        using var budgets = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/budgets"));
        Assert.DoesNotContain(budgets.RootElement.GetProperty("caps").EnumerateArray(),
            c => c.GetProperty("scope").GetString() == "apiKey" && c.GetProperty("key").GetString() == acmeKeyId.ToString());
    }

    [Fact]
    public async Task PutBudgets_OwnApiKeyId_IsStored()
    {
        var (_, ownKeyId) = await fixture.CreateKeyAsync(DemoData.GlobexId, "chat", "own key");
        var (globexAdmin, _) = await fixture.CreateKeyAsync(DemoData.GlobexId, "admin", "globex admin 2");
        var admin = fixture.ClientWith(globexAdmin);
        var cap = JsonSerializer.Serialize(new { caps = new[] { new { scope = "apiKey", key = ownKeyId.ToString(), period = "day", limitMicros = 77 } } });

        var response = await admin.PutAsync("/api/v1/budgets", Json(cap));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var budgets = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/budgets"));
        var stored = Assert.Single(budgets.RootElement.GetProperty("caps").EnumerateArray(),
            c => c.GetProperty("scope").GetString() == "apiKey" && c.GetProperty("key").GetString() == ownKeyId.ToString());
        Assert.Equal(77, stored.GetProperty("limitMicros").GetInt64());
    }
}
