using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Budgets;

/// <summary>
/// <c>/api/v1/budgets</c> carries the tenant's requests per minute per user: <c>PUT</c> sets it (null goes back to the
/// platform's, absent leaves it), <c>GET</c> shows it with the limit in effect, and out of bounds is a 400 naming it.
/// </summary>
public sealed class BudgetsApiUserRateTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<(JsonElement Set, JsonElement Effective)> ReadAsync(HttpClient admin)
    {
        using var body = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/budgets"));
        return (body.RootElement.GetProperty("userRequestsPerMinute").Clone(), body.RootElement.GetProperty("effectiveUserRequestsPerMinute").Clone());
    }

    [Fact]
    public async Task PutBudgets_UserRate_RoundTripsIsKeptWhenAbsentClearsWithNullAndIsAudited()
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "admin", "user rate admin");
        var admin = fixture.ClientWith(adminKey);
        var (before, platform) = await ReadAsync(admin);
        Assert.Equal(JsonValueKind.Null, before.ValueKind);

        var put = await admin.PutAsync("/api/v1/budgets", Json("""{"userRequestsPerMinute":120}"""));

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using (var answered = JsonDocument.Parse(await put.Content.ReadAsStringAsync()))
        {
            Assert.Equal(120, answered.RootElement.GetProperty("userRequestsPerMinute").GetInt32());
        }

        var (set, effective) = await ReadAsync(admin);
        Assert.Equal((120, 120), (set.GetInt32(), effective.GetInt32()));
        // A PUT that does not name it leaves it.
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/budgets", Json("""{"actionAtLimit":"block"}"""))).StatusCode);
        Assert.Equal(120, (await ReadAsync(admin)).Set.GetInt32());
        await using (var db = fixture.App.CreateSystemDb())
        {
            Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "budgets.set" && a.TenantId == DemoData.InitechId
                && a.MetadataJson!.Contains("\"userRequestsPerMinute\":{\"value\":120}")));
        }

        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/budgets", Json("""{"userRequestsPerMinute":null}"""))).StatusCode);
        var (cleared, back) = await ReadAsync(admin);
        Assert.Equal(JsonValueKind.Null, cleared.ValueKind);
        Assert.Equal(platform.GetInt32(), back.GetInt32());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("2000000")]
    [InlineData("1.5")]
    [InlineData("\"60\"")]
    public async Task PutBudgets_UserRateOutOfBoundsOrNotAnInteger_Answers400NamingItAndStoresNothing(string value)
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(DemoData.GlobexId, "admin", "user rate bounds");
        var admin = fixture.ClientWith(adminKey);
        var before = (await ReadAsync(admin)).Set.ToString();

        var response = await admin.PutAsync("/api/v1/budgets", Json($$"""{"userRequestsPerMinute":{{value}}}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal(("invalid_request_error", "userRequestsPerMinute"), (error.GetProperty("type").GetString(), error.GetProperty("param").GetString()));
        Assert.Equal(before, (await ReadAsync(admin)).Set.ToString());
    }
}
