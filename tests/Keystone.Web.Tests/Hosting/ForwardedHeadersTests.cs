using System.Net;
using Keystone.Testing;
using Keystone.Web.Tests.Shared;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// Behind a trusted reverse proxy Keystone sees each client's own address and scheme (<c>ForwardedHeaders:*</c>); from
/// anyone else the forwarded headers are ignored, so a client cannot pick an address to escape the sign-in throttle.
/// </summary>
public sealed class ForwardedHeadersTests : IAsyncLifetime
{
    private const string Proxy = "10.0.0.5";

    private readonly ConnectionAddressedApp _app = (ConnectionAddressedApp)new ConnectionAddressedApp()
        .WithSetting("ForwardedHeaders:KnownProxies:0", Proxy)
        .WithSetting("SignIn:MaxFailuresPerAddress", "3")
        .WithSetting("SignIn:FailureWindow", "00:01:00");

    public Task InitializeAsync()
    {
        _ = _app.Server;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _app.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task SignIn_ThroughTheTrustedProxy_ThrottlesEachForwardedClientOnItsOwn()
    {
        var attacker = Client(Proxy, forwardedFor: "203.0.113.7");
        for (var i = 0; i < 3; i++)
        {
            await KeystoneAppFactory.SignInWithAsync(attacker, "member@acme.demo", "wrong-password-" + i);
        }

        var refused = await KeystoneAppFactory.SignInWithAsync(attacker, "member@acme.demo", KeystoneAppFactory.DemoPassword);
        // Another client behind the same proxy: without the forwarded address it would share the attacker's count.
        var neighbour = await KeystoneAppFactory.SignInWithAsync(Client(Proxy, forwardedFor: "198.51.100.20"), "member@acme.demo",
            KeystoneAppFactory.DemoPassword);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, neighbour.StatusCode);
    }

    [Fact]
    public async Task SignIn_FromAnUntrustedAddress_IgnoresTheForwardedForItSends()
    {
        // A new made-up forwarded address on every try: counted against the connection's own address all the same.
        for (var i = 0; i < 3; i++)
        {
            await KeystoneAppFactory.SignInWithAsync(Client("192.0.2.99", forwardedFor: $"203.0.113.{i + 10}"), "member@acme.demo", "wrong-" + i);
        }

        var refused = await KeystoneAppFactory.SignInWithAsync(Client("192.0.2.99", forwardedFor: "203.0.113.99"), "member@acme.demo",
            KeystoneAppFactory.DemoPassword);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
    }

    [Theory]
    [InlineData(Proxy, true)]
    [InlineData("192.0.2.50", false)]
    public async Task SignIn_ForwardedHttps_MakesTheCookieSecureOnlyFromTheTrustedProxy(string connection, bool secure)
    {
        var client = Client(connection, forwardedFor: "198.51.100.30");
        client.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");

        var response = await KeystoneAppFactory.SignInWithAsync(client, "admin@acme.demo", KeystoneAppFactory.DemoPassword);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("keystone.auth=", StringComparison.Ordinal));
        Assert.Equal(secure, cookie.Contains("; secure", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData("ForwardedHeaders:KnownProxies:0", "10.0.0")]
    [InlineData("ForwardedHeaders:KnownNetworks:0", "10.0.0.0/33")]
    [InlineData("ForwardedHeaders:ForwardLimit", "0")]
    public void Start_BadProxySetting_FailsNamingTheSetting(string setting, string value)
    {
        using var app = new KeystoneAppFactory().WithSetting("ForwardedHeaders:KnownProxies:0", "10.0.0.5").WithSetting(setting, value);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains(setting.EndsWith(":0", StringComparison.Ordinal) ? setting : setting.Split(':')[1], ExceptionText.Flatten(error),
            StringComparison.Ordinal);
    }

    private HttpClient Client(string connection, string forwardedFor)
    {
        var client = _app.CreateBrowserLikeClient();
        client.DefaultRequestHeaders.Add(ConnectionAddressedApp.Header, connection);
        client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
        return client;
    }
}
