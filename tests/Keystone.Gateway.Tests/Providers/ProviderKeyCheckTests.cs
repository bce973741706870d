using Keystone.Gateway.Providers;
using Keystone.Testing.Upstreams;

namespace Keystone.Gateway.Tests.Providers;

/// <summary>
/// A tenant's key tried against its provider (decision 0074), at the network edge: loopback servers speaking OpenAI's
/// and Anthropic's protocols, and a port nobody listens on.
/// </summary>
public sealed class ProviderKeyCheckTests : IAsyncLifetime
{
    private const string Key = "sk-tenant-check-0123456789";
    private MockOpenAiServer _openAi = null!;
    private MockAnthropicServer _anthropic = null!;
    private ProviderTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _openAi = await MockOpenAiServer.StartAsync();
        _anthropic = await MockAnthropicServer.StartAsync();
        _host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:openai:Kind"] = "OpenAI",
            ["Gateway:Providers:openai:BaseUrl"] = _openAi.BaseUrl.ToString(),
            ["Gateway:Providers:openai:ApiKey"] = "sk-platform-not-this-one",
            ["Gateway:Providers:anthropic:Kind"] = "Anthropic",
            ["Gateway:Providers:anthropic:BaseUrl"] = _anthropic.BaseUrl.ToString(),
            ["Gateway:Providers:down:Kind"] = "OpenAI",
            ["Gateway:Providers:down:BaseUrl"] = $"http://127.0.0.1:{LoopbackPorts.Closed()}/v1/",
            ["Gateway:Providers:slow:Kind"] = "OpenAI",
            ["Gateway:Providers:slow:BaseUrl"] = _openAi.BaseUrl.ToString(),
            ["Gateway:Providers:slow:TimeoutSeconds"] = "1",
            ["Gateway:Providers:sim:Kind"] = "Simulated",
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _openAi.DisposeAsync();
        await _anthropic.DisposeAsync();
    }

    private Task<ProviderKeyCheck> CheckAsync(string provider) => _host.Get<ProviderKeyChecker>().CheckAsync(provider, Key, CancellationToken.None);

    [Fact]
    public async Task Check_OpenAiAnswers200_IsAcceptedAfterAGetOfModelsWithTheTenantsBearerKey()
    {
        _openAi.Enqueue(MockReply.Json(200, """{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}"""));

        var check = await CheckAsync("openai");

        Assert.Equal(ProviderKeyCheckResult.Accepted, check.Result);
        Assert.Null(check.Reason);
        var sent = Assert.Single(_openAi.Requests);
        Assert.Equal(("GET", "/v1/models"), (sent.Method, sent.Path));
        Assert.Equal("Bearer " + Key, sent.Headers["authorization"]);
    }

    [Fact]
    public async Task Check_AnthropicAnswers200_IsAcceptedAfterAGetOfModelsWithXApiKeyAndVersion()
    {
        _anthropic.Enqueue(MockReply.Json(200, """{"data":[{"type":"model","id":"claude-sonnet-4-5"}],"has_more":false}"""));

        var check = await CheckAsync("anthropic");

        Assert.Equal(ProviderKeyCheckResult.Accepted, check.Result);
        var sent = Assert.Single(_anthropic.Requests);
        Assert.Equal(("GET", "/v1/models"), (sent.Method, sent.Path));
        Assert.Equal(Key, sent.Headers["x-api-key"]);
        Assert.Equal("2023-06-01", sent.Headers["anthropic-version"]);
        Assert.False(sent.Headers.ContainsKey("authorization"));
    }

    [Theory]
    [InlineData("openai", 401)]
    [InlineData("openai", 403)]
    [InlineData("anthropic", 401)]
    [InlineData("anthropic", 403)]
    public async Task Check_ProviderRefusesTheKey_IsRejectedWithItsReasonButNeverTheKey(string provider, int status)
    {
        // Some servers echo what they were sent: the reason must not carry the key back to the page, the API or the audit.
        var server = provider == "openai" ? (MockUpstreamServer)_openAi : _anthropic;
        server.Enqueue(MockReply.Json(status, $$$"""{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key {{{Key}}}"}}"""));

        var check = await CheckAsync(provider);

        Assert.Equal(ProviderKeyCheckResult.Rejected, check.Result);
        Assert.Equal("rejected", check.Code);
        Assert.Contains($"returned {status}", check.Reason, StringComparison.Ordinal);
        Assert.Contains("invalid x-api-key", check.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, check.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(429)]
    [InlineData(404)]
    public async Task Check_ProviderAnswersNeitherSuccessNorRefusal_IsUnverified(int status)
    {
        _openAi.Enqueue(MockReply.Json(status, """{"error":{"message":"try later","type":"server_error"}}"""));

        var check = await CheckAsync("openai");

        Assert.Equal(ProviderKeyCheckResult.Unverified, check.Result);
        Assert.Contains($"returned {status}", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ProviderUnreachable_IsUnverifiedNamingTheConnectionFailure()
    {
        var check = await CheckAsync("down");

        Assert.Equal(ProviderKeyCheckResult.Unverified, check.Result);
        Assert.Contains("connection failed", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ProviderNeverAnswers_IsUnverifiedAfterTheProvidersShorterTimeout()
    {
        _openAi.Enqueue(MockReply.Hang());

        var check = await CheckAsync("slow");

        Assert.Equal(ProviderKeyCheckResult.Unverified, check.Result);
        Assert.Contains("no response within 1 s", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ProviderRedirects_IsUnverifiedAndTheKeyGoesNowhereElse()
    {
        await using var elsewhere = await MockAnthropicServer.StartAsync();
        _anthropic.Enqueue(MockReply.Json(307, "{}").WithHeader("Location", new Uri(elsewhere.BaseUrl, "models").ToString()));

        var check = await CheckAsync("anthropic");

        Assert.Equal(ProviderKeyCheckResult.Unverified, check.Result);
        Assert.Empty(elsewhere.Requests);
    }

    [Fact]
    public async Task Check_SimulatedProvider_AcceptsAnyKeyAndUnknownProviderIsUnverified()
    {
        var sim = await CheckAsync("sim");
        var unknown = await CheckAsync("nope");

        Assert.Equal(ProviderKeyCheckResult.Accepted, sim.Result);
        Assert.Equal(ProviderKeyCheckResult.Unverified, unknown.Result);
    }
}
