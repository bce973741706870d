using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Testing;

namespace Keystone.Web.Tests.Api;

/// <summary><c>GET /api/v1/calls</c>: a tenant's calls newest first, filtered, paged by cursor, never another tenant's.</summary>
public sealed class CallListApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static async Task<Guid> CallAsync(HttpClient client, string feature, string model = "fast")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"model":"{{model}}","messages":[{"role":"user","content":"list me {{Guid.NewGuid()}}"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Keystone-Feature", feature);
        using var response = await client.SendAsync(request);
        return Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
    }

    private static async Task<(List<JsonElement> Calls, string? Next)> PageAsync(HttpClient client, string query)
    {
        var response = await client.GetAsync($"/api/v1/calls?{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var next = body.GetProperty("nextCursor");
        return (body.GetProperty("calls").EnumerateArray().ToList(), next.ValueKind == JsonValueKind.Null ? null : next.GetString());
    }

    [Fact]
    public async Task List_ByFeatureInPagesOfTwo_ReturnsEveryCallOnceNewestFirst()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var feature = $"list-{Guid.NewGuid():N}"[..20];
        var made = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            made.Add(await CallAsync(client, feature));
        }

        await fixture.FlushCallsAsync();

        var (first, cursor) = await PageAsync(client, $"feature={feature}&limit=2");
        var (second, end) = await PageAsync(client, $"feature={feature}&limit=2&cursor={Uri.EscapeDataString(cursor!)}");

        Assert.Equal(2, first.Count);
        Assert.Single(second);
        Assert.Null(end);
        var listed = first.Concat(second).ToList();
        Assert.Equal(Enumerable.Reverse(made), listed.Select(c => c.GetProperty("traceId").GetGuid()));
        Assert.All(listed, c =>
        {
            Assert.Equal(feature, c.GetProperty("feature").GetString());
            Assert.Equal("ok", c.GetProperty("status").GetString());
            Assert.True(c.GetProperty("costMicros").GetInt64() > 0);
            Assert.Equal("none", c.GetProperty("cache").GetString());
        });
    }

    [Fact]
    public async Task List_StatusRejected_FindsTheRefusedCallOnly()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var feature = $"rej-{Guid.NewGuid():N}"[..20];
        await CallAsync(client, feature);
        var refused = await CallAsync(client, feature, model: "no-such-model");
        await fixture.FlushCallsAsync();

        var (calls, _) = await PageAsync(client, $"feature={feature}&status=rejected");

        var call = Assert.Single(calls);
        Assert.Equal(refused, call.GetProperty("traceId").GetGuid());
        Assert.Equal("model_not_found", call.GetProperty("errorCode").GetString());
    }

    [Fact]
    public async Task List_OtherTenantsCalls_NeverAppear()
    {
        var feature = $"iso-{Guid.NewGuid():N}"[..20];
        var (globexSecret, _) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat usage:read");
        var globex = fixture.ClientWith(globexSecret);
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var globexTrace = await CallAsync(globex, feature);
        var acmeTrace = await CallAsync(acme, feature);
        await fixture.FlushCallsAsync();

        var (asAcme, _) = await PageAsync(acme, $"feature={feature}");
        var (asGlobex, _) = await PageAsync(globex, $"feature={feature}");

        Assert.Equal([acmeTrace], asAcme.Select(c => c.GetProperty("traceId").GetGuid()));
        Assert.Equal([globexTrace], asGlobex.Select(c => c.GetProperty("traceId").GetGuid()));
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=201", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("limit=-5", "limit")]
    [InlineData("status=sideways", "status")]
    [InlineData("status=1", "status")]
    [InlineData("cursor=not-a-cursor", "cursor")]
    [InlineData("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from")]
    [InlineData("from=yesterday", "from")]
    public async Task List_BadQuery_Is400NamingTheParameter(string query, string param)
    {
        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).GetAsync($"/api/v1/calls?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task List_KeyWithoutUsageScope_Is403()
    {
        var (chatOnly, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat");

        var response = await fixture.ClientWith(chatOnly).GetAsync("/api/v1/calls");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
