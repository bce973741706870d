using Keystone.Testing.Upstreams;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// The API fixture's app with two more OpenAI-kind providers a tenant may bring a key for: <c>up</c>, a loopback OpenAI
/// server whose answers a test scripts, and <c>down</c>, a loopback port nobody listens on.
/// </summary>
public sealed class ProviderKeyCheckFixture : IAsyncLifetime
{
    public ApiFixture Api { get; } = new();

    public MockOpenAiServer Up { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Up = await MockOpenAiServer.StartAsync();
        Api.App.WithSetting("Gateway:Providers:up:Kind", "OpenAI")
            .WithSetting("Gateway:Providers:up:BaseUrl", Up.BaseUrl.ToString())
            .WithSetting("Gateway:Providers:down:Kind", "OpenAI")
            .WithSetting("Gateway:Providers:down:BaseUrl", $"http://127.0.0.1:{LoopbackPorts.Closed()}/v1/");
        await Api.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Api.DisposeAsync();
        await Up.DisposeAsync();
    }
}
