using Keystone.Web.Platform;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary><c>/api/v1/provider-keys</c> over the real app: an admin key stores the tenant's own provider key and its calls are billed to it.</summary>
public sealed class ProviderKeyApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private const string Secret = "sk-globex-own-0123456789abcd";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private async Task<string> BilledToOfAsync(HttpClient chat)
    {
        var answer = await chat.PostAsync("/v1/chat/completions", Json("""{"model":"fast","messages":[{"role":"user","content":"Hello"}]}"""));
        answer.EnsureSuccessStatusCode();
        var traceId = answer.Headers.GetValues("X-Keystone-Trace-Id").Single();
        await fixture.FlushCallsAsync();
        using var call = JsonDocument.Parse(await chat.GetStringAsync($"/api/v1/calls/{traceId}"));
        return call.RootElement.GetProperty("billedTo").GetString()!;
    }

    [Fact]
    public async Task Put_ThenCalls_AreBilledToTheTenantsKeyUntilItIsDeleted()
    {
        var (adminKey, adminId) = await fixture.CreateKeyAsync(DemoData.GlobexId, "admin");
        var (chatKey, _) = await fixture.CreateKeyAsync(DemoData.GlobexId, "chat usage:read");
        var admin = fixture.ClientWith(adminKey);
        var chat = fixture.ClientWith(chatKey);

        var put = await admin.PutAsync("/api/v1/provider-keys/sim", Json($$"""{"apiKey":"{{Secret}}"}"""));
        var putBody = await put.Content.ReadAsStringAsync();
        var listed = await admin.GetStringAsync("/api/v1/provider-keys");
        var billedWithKey = await BilledToOfAsync(chat);

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("…abcd", JsonDocument.Parse(putBody).RootElement.GetProperty("key").GetString());
        Assert.DoesNotContain(Secret, putBody + listed, StringComparison.Ordinal);
        using var list = JsonDocument.Parse(listed);
        var key = Assert.Single(list.RootElement.GetProperty("keys").EnumerateArray());
        Assert.Equal(("sim", "…abcd"), (key.GetProperty("provider").GetString(), key.GetProperty("key").GetString()));
        Assert.Contains("sim", list.RootElement.GetProperty("providers").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal("tenant_key", billedWithKey);

        var delete = await admin.DeleteAsync("/api/v1/provider-keys/sim");
        var again = await admin.DeleteAsync("/api/v1/provider-keys/sim");
        var billedAfter = await BilledToOfAsync(chat);

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("platform", billedAfter);
        await using var db = fixture.App.CreateSystemDb();
        var audit = await db.AuditLog.Where(a => a.TenantId == DemoData.GlobexId && a.Target == "provider:sim").OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(["byok.set", "byok.remove"], audit.Select(a => a.Action));
        Assert.All(audit, a => Assert.Equal(("api_key", adminId.ToString()), (a.ActorType, a.ActorId)));
        Assert.All(audit, a => Assert.DoesNotContain("0123456789", a.MetadataJson ?? "", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/api/v1/provider-keys/nope", """{"apiKey":"sk-0123456789"}""", "provider")]
    [InlineData("/api/v1/provider-keys/sim", """{"apiKey":"short"}""", "apiKey")]
    [InlineData("/api/v1/provider-keys/sim", """{"apiKey":"sk-with space-0123"}""", "apiKey")]
    [InlineData("/api/v1/provider-keys/sim", """{}""", "apiKey")]
    [InlineData("/api/v1/provider-keys/sim", """["sk-0123456789"]""", "body")]
    public async Task Put_BadInput_Answers400NamingTheFieldAndStoresNothing(string url, string body, string param)
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "admin");

        var response = await fixture.ClientWith(adminKey).PutAsync(url, Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.ProviderCredentials.AnyAsync(c => c.TenantId == DemoData.InitechId));
    }

    [Fact]
    public async Task ProviderKeys_WithAChatKey_Answers403()
    {
        var (chatKey, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "chat");
        var client = fixture.ClientWith(chatKey);

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/v1/provider-keys")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PutAsync("/api/v1/provider-keys/sim", Json($$"""{"apiKey":"{{Secret}}"}"""))).StatusCode);
    }
}
