using Keystone.Web.Platform;
using System.Net;
using System.Text;
using Keystone.Testing;
using Keystone.Web.Features.Keys;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Api;

/// <summary>API keys on the request path: missing, wrong, revoked, out of scope, last-used bookkeeping.</summary>
public sealed class ApiKeyAuthenticationTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Chat() => new("""{"model":"fast","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");

    [Fact]
    public async Task Post_NoKey_Answers401MissingKeyWithBearerChallenge()
    {
        var response = await fixture.ClientWith(null).PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal("missing_api_key", error.GetProperty("code").GetString());
        Assert.Equal("authentication_error", error.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("ks_not_a_real_key_but_long_enough")]
    [InlineData("sk-openai-style-key-0123456789")]
    [InlineData("ks_")]
    public async Task Post_UnknownKey_Answers401InvalidApiKey(string key)
    {
        var response = await fixture.ClientWith(key).PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_api_key", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Post_ConsoleCookieWithoutKey_Answers401NotTheSignInPage()
    {
        var client = await fixture.App.SignInAsync("admin@acme.demo");

        var response = await client.PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("missing_api_key", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("embeddings", "POST", "/v1/chat/completions")]
    [InlineData("chat", "POST", "/v1/embeddings")]
    [InlineData("chat", "GET", "/api/v1/usage")]
    [InlineData("usage:read", "PUT", "/api/v1/budgets")]
    public async Task Request_KeyWithoutScope_Answers403InsufficientScope(string scopes, string method, string path)
    {
        var (key, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, scopes);
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "GET" ? null : Chat() };

        var response = await fixture.ClientWith(key).SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal("insufficient_scope", error.GetProperty("code").GetString());
        Assert.Equal("permission_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Post_KeyWithChatScope_IsServed()
    {
        var (key, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");

        var response = await fixture.ClientWith(key).PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Revoke_ThroughKeyService_StopsTheKeyAtOnceAndIsAudited()
    {
        var (key, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");
        var client = fixture.ClientWith(key);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Chat())).StatusCode);

        await using (var scope = fixture.App.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<Keystone.Web.Platform.TenantContext>()
                .SetUser(KeysTestPrincipals.AcmeAdmin());
            Assert.True(await scope.ServiceProvider.GetRequiredService<ApiKeyService>().RevokeAsync(keyId, CancellationToken.None));
        }

        var after = await client.PostAsync("/v1/chat/completions", Chat());
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "apikey.revoke" && a.Target == $"apikey:{keyId}"));
    }

    [Fact]
    public async Task Post_KeyRevokedInDatabase_StopsWorkingOnceTheLookupCacheExpires()
    {
        using var app = new KeystoneAppFactory().WithSetting("ApiKeys:LookupCacheTtl", "00:00:00");
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);

        await using (var db = app.CreateSystemDb())
        {
            await db.ApiKeys.ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedUtc, DateTime.UtcNow));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task Post_UsedKey_LastUsedIsWrittenByTheBackgroundFlush()
    {
        var (key, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");
        await fixture.ClientWith(key).GetAsync("/v1/models");

        await fixture.App.Services.GetRequiredService<ApiKeyUsageTracker>().FlushAsync(CancellationToken.None);

        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.SingleAsync(k => k.Id == keyId);
        Assert.NotNull(stored.LastUsedUtc);
    }

    [Fact]
    public async Task FindAsync_SameKeyTwice_ReadsTheDatabaseOnce()
    {
        var (key, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");
        var lookup = fixture.App.Services.GetRequiredService<ApiKeyLookup>();
        var first = await lookup.FindAsync(key, CancellationToken.None);

        // Renaming the row behind the cache's back shows whether the second lookup went to the database.
        await using (var db = fixture.App.CreateSystemDb())
        {
            await db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.Name, "renamed"));
        }

        var second = await lookup.FindAsync(key, CancellationToken.None);

        Assert.Equal("test key", first!.Name);
        Assert.Equal("test key", second!.Name);
        Assert.Equal(ApiFixture.Acme, second.TenantId);
    }
}

/// <summary>Key expiry on the request path: refused with its own code, announced by a header while it is coming.</summary>
public sealed class ApiKeyExpiryTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    [Fact]
    public async Task Get_KeyPastItsExpiry_Answers401ApiKeyExpiredNamingTheTime()
    {
        var expired = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var (key, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "old backend", expired);

        var response = await fixture.ClientWith(key).GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal("api_key_expired", error.GetProperty("code").GetString());
        Assert.Equal("authentication_error", error.GetProperty("type").GetString());
        Assert.Contains("'old backend'", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("expired at 2026-01-02 03:04:05 UTC", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_KeyThatExpiresLater_IsServedAndAnnouncesTheExpiry()
    {
        var expires = new DateTime(2099, 6, 7, 8, 9, 10, DateTimeKind.Utc);
        var (key, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "expiring", expires);
        var (plain, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "forever");

        var response = await fixture.ClientWith(key).GetAsync("/v1/models");
        var plainResponse = await fixture.ClientWith(plain).GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("2099-06-07T08:09:10Z", response.Headers.GetValues("X-Keystone-Key-Expires").Single());
        Assert.Equal(HttpStatusCode.OK, plainResponse.StatusCode);
        Assert.False(plainResponse.Headers.Contains("X-Keystone-Key-Expires"));
    }

    [Fact]
    public async Task Get_CachedKeyThatExpiresMeanwhile_IsRefusedWithoutWaitingForTheCache()
    {
        // The lookup cache holds the identity with its expiry, so the check is made per request, not per lookup.
        var (key, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "short-lived", DateTime.UtcNow.AddSeconds(1.5));
        var client = fixture.ClientWith(key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);

        await Task.Delay(TimeSpan.FromSeconds(2));
        var later = await client.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.Unauthorized, later.StatusCode);
        Assert.Equal("api_key_expired", (await ChatCompletionsApiTests.ErrorOf(later)).GetProperty("code").GetString());
        await using var db = fixture.App.CreateSystemDb();
        Assert.NotNull(await db.ApiKeys.SingleAsync(k => k.Id == keyId));
    }
}

internal static class KeysTestPrincipals
{
    public static System.Security.Claims.ClaimsPrincipal AcmeAdmin() => new(new System.Security.Claims.ClaimsIdentity(
    [
        new(System.Security.Claims.ClaimTypes.NameIdentifier, "test-acme-admin"),
        new(System.Security.Claims.ClaimTypes.Email, "admin@acme.demo"),
        new(System.Security.Claims.ClaimTypes.Role, Keystone.Data.Identity.Roles.TenantAdmin),
        new(Keystone.Web.Platform.KeystoneClaims.TenantId, Keystone.Web.Platform.DemoData.AcmeId.ToString()),
    ], "test"));
}
