using Keystone.Web.Platform;
using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Gateway.Credentials;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Api;

/// <summary><c>PUT /api/v1/provider-keys/{provider}</c> tries the key against the provider first (decision 0074).</summary>
public sealed class ProviderKeyCheckApiTests(ProviderKeyCheckFixture fixture) : IClassFixture<ProviderKeyCheckFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private async Task<HttpClient> AdminOfAsync(Guid tenantId) => fixture.Api.ClientWith((await fixture.Api.CreateKeyAsync(tenantId, "admin")).Secret);

    [Fact]
    public async Task Put_ProviderAcceptsTheKey_StoresItVerified()
    {
        const string secret = "sk-acme-check-ok-0123456789";
        var admin = await AdminOfAsync(DemoData.AcmeId);
        fixture.Up.Enqueue(MockReply.Json(200, """{"object":"list","data":[]}"""));

        var put = await admin.PutAsync("/api/v1/provider-keys/up", Json($$"""{"apiKey":"{{secret}}"}"""));

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using var body = JsonDocument.Parse(await put.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("verified").GetBoolean());
        Assert.Equal("accepted", body.RootElement.GetProperty("check").GetString());
        Assert.Equal(JsonValueKind.String, body.RootElement.GetProperty("checkedUtc").ValueKind);
        Assert.Equal("Bearer " + secret, fixture.Up.LastRequest.Headers["authorization"]);
        Assert.Equal("/v1/models", fixture.Up.LastRequest.Path);
        await using var db = fixture.Api.App.CreateSystemDb();
        var row = await db.ProviderCredentials.SingleAsync(c => c.TenantId == DemoData.AcmeId && c.Provider == "up");
        Assert.Equal("accepted", row.CheckResult);
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    public async Task Put_ProviderRefusesTheKey_Answers422ProviderKeyRejectedAndStoresNothing(int status)
    {
        const string secret = "sk-globex-revoked-0123456789";
        var admin = await AdminOfAsync(DemoData.GlobexId);
        fixture.Up.Enqueue(MockReply.Json(status, """{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"""));

        var put = await admin.PutAsync("/api/v1/provider-keys/up", Json($$"""{"apiKey":"{{secret}}"}"""));
        var text = await put.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.UnprocessableEntity, put.StatusCode);
        using var error = JsonDocument.Parse(text);
        Assert.Equal("provider_key_rejected", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("apiKey", error.RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("Incorrect API key provided", text, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        await using var db = fixture.Api.App.CreateSystemDb();
        Assert.False(await db.ProviderCredentials.AnyAsync(c => c.TenantId == DemoData.GlobexId && c.Provider == "up"));
        var audit = await db.AuditLog.Where(a => a.TenantId == DemoData.GlobexId && a.Target == "provider:up").Select(a => new { a.Action, a.MetadataJson }).ToListAsync();
        Assert.Contains(audit, a => a.Action == "byok.rejected");
        Assert.DoesNotContain(audit, a => a.Action == "byok.set");
        Assert.All(audit, a => Assert.DoesNotContain("0123456789", a.MetadataJson ?? "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Put_ProviderUnreachable_StoresTheKeyUnverifiedWithTheReason()
    {
        const string secret = "sk-initech-rotate-0123456789";
        var admin = await AdminOfAsync(DemoData.InitechId);

        var put = await admin.PutAsync("/api/v1/provider-keys/down", Json($$"""{"apiKey":"{{secret}}"}"""));
        var listed = await admin.GetStringAsync("/api/v1/provider-keys");

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using var body = JsonDocument.Parse(await put.Content.ReadAsStringAsync());
        Assert.False(body.RootElement.GetProperty("verified").GetBoolean());
        Assert.Equal("unverified", body.RootElement.GetProperty("check").GetString());
        Assert.Contains("connection failed", body.RootElement.GetProperty("reason").GetString(), StringComparison.Ordinal);
        using var list = JsonDocument.Parse(listed);
        var key = Assert.Single(list.RootElement.GetProperty("keys").EnumerateArray(), k => k.GetProperty("provider").GetString() == "down");
        Assert.Equal("unverified", key.GetProperty("check").GetString());
        var stored = await fixture.Api.App.Services.GetRequiredService<ProviderCredentialStore>().GetForCallAsync(DemoData.InitechId, "down", CancellationToken.None);
        Assert.Equal(secret, stored?.ApiKey);
    }
    [Fact]
    public async Task Test_KeyRevokedAtTheProviderSinceItWasSaved_Answers200RejectedKeepsTheKeyAndAuditsTheCheck()
    {
        const string secret = "sk-umbrella-later-revoked-0123456789";
        var admin = await AdminOfAsync(DemoData.UmbrellaId);
        fixture.Up.Enqueue(MockReply.Json(200, """{"object":"list","data":[]}"""));
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/provider-keys/up", Json($$"""{"apiKey":"{{secret}}"}"""))).StatusCode);
        fixture.Up.Enqueue(MockReply.Json(401, """{"error":{"message":"This key was revoked","type":"invalid_request_error","code":"invalid_api_key"}}"""));

        var test = await admin.PostAsync("/api/v1/provider-keys/up/test", null);
        var text = await test.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, test.StatusCode);
        using var body = JsonDocument.Parse(text);
        Assert.False(body.RootElement.GetProperty("verified").GetBoolean());
        Assert.Equal("rejected", body.RootElement.GetProperty("check").GetString());
        Assert.Contains("This key was revoked", body.RootElement.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        Assert.Equal("Bearer " + secret, fixture.Up.LastRequest.Headers["authorization"]);
        var stored = await fixture.Api.App.Services.GetRequiredService<ProviderCredentialStore>().GetForCallAsync(DemoData.UmbrellaId, "up", CancellationToken.None);
        Assert.Equal(secret, stored?.ApiKey);
        await using var db = fixture.Api.App.CreateSystemDb();
        Assert.Equal("rejected", (await db.ProviderCredentials.SingleAsync(c => c.TenantId == DemoData.UmbrellaId && c.Provider == "up")).CheckResult);
        Assert.Contains(await db.AuditLog.Where(a => a.TenantId == DemoData.UmbrellaId && a.Target == "provider:up").Select(a => a.Action).ToListAsync(),
            a => a == "byok.check");
    }

    [Theory]
    [InlineData("down", HttpStatusCode.NotFound, "not_found")]
    [InlineData("no-such-provider", HttpStatusCode.BadRequest, "invalid_request_error")]
    public async Task Test_NoKeyOfItsOwnOrAnUnknownProvider_IsAClearErrorAndTriesNothing(string provider, HttpStatusCode status, string code)
    {
        var admin = await AdminOfAsync(DemoData.GlobexId);
        var before = fixture.Up.Requests.Count;

        var test = await admin.PostAsync($"/api/v1/provider-keys/{provider}/test", null);

        Assert.Equal(status, test.StatusCode);
        using var error = JsonDocument.Parse(await test.Content.ReadAsStringAsync());
        Assert.Equal(code, error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(before, fixture.Up.Requests.Count);
    }
}
