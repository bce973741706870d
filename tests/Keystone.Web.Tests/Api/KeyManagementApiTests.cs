using Keystone.Web.Platform;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Keys;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary><c>/api/v1/keys</c>: a tenant's key lifecycle through an admin key, with the console's rules.</summary>
public sealed class KeyManagementApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private async Task<HttpClient> AcmeAdminAsync()
    {
        var (secret, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "admin", "provisioning");
        return fixture.ClientWith(secret);
    }

    [Fact]
    public async Task Lifecycle_CreateUseRotateRevoke_WorksAndIsAuditedAsTheAdminKey()
    {
        var admin = await AcmeAdminAsync();
        var name = $"svc-{Guid.NewGuid():N}"[..16];
        var expires = $"{DateTime.UtcNow.Year + 2}-01-01T00:00:00Z";

        var created = await admin.PostAsync("/api/v1/keys", Json($$"""
            {"name":"{{name}}","scopes":["chat"],"requestsPerMinute":90,"capMicros":2500000,"capPeriod":"day","expiresUtc":"{{expires}}"}
            """));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        var secret = body.GetProperty("secret").GetString()!;
        var id = body.GetProperty("key").GetProperty("id").GetGuid();
        Assert.Equal($"/api/v1/keys/{id}", created.Headers.Location!.OriginalString);
        Assert.Equal(90, body.GetProperty("key").GetProperty("requestsPerMinute").GetInt32());
        Assert.Equal(2_500_000, body.GetProperty("key").GetProperty("caps")[0].GetProperty("limitMicros").GetInt64());
        Assert.Equal("day", body.GetProperty("key").GetProperty("caps")[0].GetProperty("period").GetString());
        var user = fixture.ClientWith(secret);
        var served = await user.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(expires, served.Headers.GetValues("X-Keystone-Key-Expires").Single());

        var chat = await user.PostAsync("/v1/chat/completions", Json("""{"model":"fast","messages":[{"role":"user","content":"count me"}]}"""));
        var chatCost = long.Parse(chat.Headers.GetValues("X-Keystone-Cost-Micros").Single(), System.Globalization.CultureInfo.InvariantCulture);
        await fixture.FlushCallsAsync();
        var list = await admin.GetStringAsync("/api/v1/keys");
        Assert.Contains(name, list, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, list, StringComparison.Ordinal);
        var listed = JsonDocument.Parse(list).RootElement.GetProperty("keys").EnumerateArray().Single(k => k.GetProperty("id").GetGuid() == id);
        Assert.Equal(1, listed.GetProperty("thisMonth").GetProperty("calls").GetInt64());
        Assert.Equal(chatCost, listed.GetProperty("thisMonth").GetProperty("costMicros").GetInt64());

        var rotated = await admin.PostAsync($"/api/v1/keys/{id}/rotate", Json("""{"overlapSeconds":0}"""));
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var newSecret = (await rotated.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
        var old = await user.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        Assert.Equal("api_key_expired", (await ChatCompletionsApiTests.ErrorOf(old)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(newSecret).GetAsync("/v1/models")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/keys/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.ClientWith(newSecret).GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/api/v1/keys/{id}")).StatusCode);

        await using var db = fixture.App.CreateSystemDb();
        var audit = await db.AuditLog.Where(a => a.Target == $"apikey:{id}").OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(["apikey.create", "apikey.rotate", "apikey.revoke"], audit.Select(a => a.Action));
        Assert.All(audit, a => Assert.Equal("api_key", a.ActorType));
        Assert.All(audit, a => Assert.Equal("provisioning", a.ActorName));
        Assert.All(audit, a => Assert.DoesNotContain(secret, a.MetadataJson ?? "", StringComparison.Ordinal));
        Assert.Equal(ApiKeyHasher.Hash(newSecret), (await db.ApiKeys.SingleAsync(k => k.Id == id)).Hash);
    }

    [Fact]
    public async Task Rotate_WithoutABody_LetsTheOldSecretWorkForADay()
    {
        var admin = await AcmeAdminAsync();
        var (secret, id) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");

        var rotated = await admin.PostAsync($"/api/v1/keys/{id}/rotate", content: null);

        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var key = (await rotated.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key");
        Assert.InRange(key.GetProperty("previousExpiresUtc").GetDateTime(), DateTime.UtcNow.AddHours(23.9), DateTime.UtcNow.AddHours(24.1));
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(secret).GetAsync("/v1/models")).StatusCode);
    }

    [Theory]
    [InlineData("GET", "/api/v1/keys")]
    [InlineData("POST", "/api/v1/keys")]
    [InlineData("DELETE", "/api/v1/keys/00000000-0000-0000-0000-000000000001")]
    public async Task Keys_WithoutAdminScope_Answer403(string method, string path)
    {
        var (secret, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat usage:read");
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? Json("""{"name":"x","scopes":["chat"]}""") : null };

        var response = await fixture.ClientWith(secret).SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("insufficient_scope", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Keys_OtherTenantsKey_IsInvisibleAndUntouchable()
    {
        var admin = await AcmeAdminAsync();
        var (globexSecret, globexId) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat", "globex-only");

        var list = await admin.GetStringAsync("/api/v1/keys");
        var rotate = await admin.PostAsync($"/api/v1/keys/{globexId}/rotate", Json("{}"));
        var revoke = await admin.DeleteAsync($"/api/v1/keys/{globexId}");

        Assert.DoesNotContain(globexId.ToString(), list, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, rotate.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(globexSecret).GetAsync("/v1/models")).StatusCode);
    }

    [Theory]
    [InlineData("""{"scopes":["chat"]}""", "name")]
    [InlineData("""{"name":"x","scopes":[]}""", "scopes")]
    [InlineData("""{"name":"x","scopes":"chat"}""", "scopes")]
    [InlineData("""{"name":"x","scopes":["root"]}""", "scopes")]
    [InlineData("""{"name":"   ","scopes":["chat"]}""", "name")]
    [InlineData("""{"name":"x","scopes":["chat"],"requestsPerMinute":0}""", "requestsPerMinute")]
    [InlineData("""{"name":"x","scopes":["chat"],"capMicros":0}""", "capMicros")]
    [InlineData("""{"name":"x","scopes":["chat"],"capPeriod":"week"}""", "capPeriod")]
    [InlineData("""{"name":"x","scopes":["chat"],"expiresUtc":"next tuesday"}""", "expiresUtc")]
    [InlineData("""{"name":"x","scopes":["chat"],"expiresUtc":"2020-01-01T00:00:00Z"}""", "expiresUtc")]
    [InlineData("""{"name":"x","scopes":["chat"],"expiresUtc":"2999-01-01T00:00:00Z"}""", "expiresUtc")]
    [InlineData("""["chat"]""", "body")]
    public async Task CreateKey_BadBody_Answers400NamingTheFieldAndCreatesNothing(string json, string param)
    {
        var admin = await AcmeAdminAsync();
        await using var before = fixture.App.CreateSystemDb();
        var count = await before.ApiKeys.CountAsync();

        var response = await admin.PostAsync("/api/v1/keys", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        await using var after = fixture.App.CreateSystemDb();
        Assert.Equal(count, await after.ApiKeys.CountAsync());
    }

    [Theory]
    [InlineData("""{"overlapSeconds":-1}""")]
    [InlineData("""{"overlapSeconds":2592001}""")]
    [InlineData("""{"overlapSeconds":"1h"}""")]
    public async Task Rotate_BadOverlap_Answers400AndKeepsTheSecret(string json)
    {
        var admin = await AcmeAdminAsync();
        var (secret, id) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");

        var response = await admin.PostAsync($"/api/v1/keys/{id}/rotate", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("overlapSeconds", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
        await using var db = fixture.App.CreateSystemDb();
        Assert.Equal(ApiKeyHasher.Hash(secret), (await db.ApiKeys.SingleAsync(k => k.Id == id)).Hash);
    }

    [Fact]
    public async Task Models_KeyLimitedToFast_IsRefusedOtherModelsAndSeesOnlyFast()
    {
        var admin = await AcmeAdminAsync();
        var created = await admin.PostAsync("/api/v1/keys", Json("""{"name":"fast only","scopes":["chat","embeddings"],"models":["FAST"]}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        var client = fixture.ClientWith(body.GetProperty("secret").GetString());

        var fast = await client.PostAsync("/v1/chat/completions", Json("""{"model":"fast","messages":[{"role":"user","content":"hi"}]}"""));
        var smart = await client.PostAsync("/v1/chat/completions", Json("""{"model":"smart","messages":[{"role":"user","content":"hi"}]}"""));
        var embed = await client.PostAsync("/v1/embeddings", Json("""{"model":"embed","input":"hi"}"""));
        var prompt = await client.PostAsync("/v1/prompts/support-reply/completions",
            Json("""{"variables":{"company":"Acme","customer_name":"Jo","question":"Where is my order?"}}"""));
        var models = await client.GetFromJsonAsync<JsonElement>("/v1/models");

        Assert.Equal(HttpStatusCode.OK, fast.StatusCode);
        foreach (var refused in new[] { smart, embed, prompt })
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            var error = await ChatCompletionsApiTests.ErrorOf(refused);
            Assert.Equal("model_not_allowed", error.GetProperty("code").GetString());
            Assert.Contains("not allowed for API key 'fast only'. It may use: fast", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(["fast"], models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Patch_ModelsAndExpiry_ChangeTogetherAndNullClears()
    {
        var admin = await AcmeAdminAsync();
        var (secret, id) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");
        var expires = $"{DateTime.UtcNow.Year + 1}-03-01T00:00:00Z";

        var patched = await admin.PatchAsync($"/api/v1/keys/{id}", Json($$"""{"models":["smart"],"expiresUtc":"{{expires}}"}"""));

        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        var key = await patched.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["smart"], key.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        var client = fixture.ClientWith(secret);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("/v1/chat/completions", Json("""{"model":"fast","messages":[{"role":"user","content":"hi"}]}"""))).StatusCode);
        Assert.Equal(expires, (await client.GetAsync("/v1/models")).Headers.GetValues("X-Keystone-Key-Expires").Single());

        var cleared = await admin.PatchAsync($"/api/v1/keys/{id}", Json("""{"models":null}"""));

        Assert.Equal(JsonValueKind.Null, (await cleared.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("models").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Json("""{"model":"fast","messages":[{"role":"user","content":"hi"}]}"""))).StatusCode);
    }

    [Theory]
    [InlineData("""{"models":["no-such-model"]}""", "models")]
    [InlineData("""{"models":"fast"}""", "models")]
    [InlineData("""{"models":["smart"],"expiresUtc":"2020-01-01T00:00:00Z"}""", "expiresUtc")]
    [InlineData("""{}""", "body")]
    public async Task Patch_BadBody_Answers400AndChangesNothing(string json, string param)
    {
        var admin = await AcmeAdminAsync();
        var (_, id) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");

        var response = await admin.PatchAsync($"/api/v1/keys/{id}", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.SingleAsync(k => k.Id == id);
        Assert.Null(stored.AllowedModels);
        Assert.Null(stored.ExpiresUtc);
    }
}
