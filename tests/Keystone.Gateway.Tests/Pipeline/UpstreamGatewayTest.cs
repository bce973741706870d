using Keystone.Testing;
using Keystone.Testing.Upstreams;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// A gateway on its own SQLite database with two tenants, Acme and Globex, and a real loopback OpenAI-compatible
/// upstream that counts the requests it answers (the cache tests count what reached the model).
/// </summary>
/// <param name="settings">The gateway's configuration, given the upstream's address.</param>
public abstract class UpstreamGatewayTest(Func<MockOpenAiServer, Dictionary<string, string?>> settings) : IAsyncLifetime
{
    protected SqliteTestDatabase Db { get; private set; } = null!;

    protected MockOpenAiServer Upstream { get; private set; } = null!;

    internal GatewayHarness Harness { get; private set; } = null!;

    protected Guid Acme { get; private set; }

    protected Guid Globex { get; private set; }

    public async Task InitializeAsync()
    {
        Db = await SqliteTestDatabase.CreateAsync();
        Upstream = await MockOpenAiServer.StartAsync();
        Acme = await GatewayHarness.CreateTenantAsync(Db.CreateFactory(), "acme");
        Globex = await GatewayHarness.CreateTenantAsync(Db.CreateFactory(), "globex");
        Harness = await GatewayHarness.CreateAsync(Db.CreateFactory(), settings(Upstream));
    }

    public async Task DisposeAsync()
    {
        await Harness.DisposeAsync();
        await Upstream.DisposeAsync();
        await Db.DisposeAsync();
    }
}
