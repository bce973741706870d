using System.Net;
using System.Net.Sockets;
using System.Text;
using Keystone.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Keystone.Web.Tests.Shared;

namespace Keystone.Web.Tests.Hosting;

/// <summary><c>Server:MaxConcurrentConnections</c> reaches Kestrel: the real app on a loopback port with a limit of 2.</summary>
public sealed class ServerLimitsTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Kestrel_AtTheConnectionLimit_ClosesTheNextConnectionAndAcceptsOnceOneCloses()
    {
        using var app = new KeystoneAppFactory().WithSetting("Server:MaxConcurrentConnections", "2");
        app.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        app.StartServer();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        using var first = await OpenServedConnectionAsync(port);
        using var second = await OpenServedConnectionAsync(port);
        using (var third = new TcpClient())
        {
            await third.ConnectAsync(IPAddress.Loopback, port);
            // Kestrel accepts the socket and closes it before reading: the request gets no answer.
            Assert.Null(await TryHealthAsync(third));
        }

        first.Close();
        // The slot comes back when Kestrel notices the close; a new connection is then served.
        var deadline = DateTime.UtcNow + WaitLimit;
        string? answer = null;
        while (answer is null && DateTime.UtcNow < deadline)
        {
            using var fourth = new TcpClient();
            await fourth.ConnectAsync(IPAddress.Loopback, port);
            answer = await TryHealthAsync(fourth);
            if (answer is null)
            {
                await Task.Delay(50);
            }
        }

        Assert.NotNull(answer);
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Server:MaxConcurrentConnections", "0")]
    [InlineData("Server:MaxConcurrentUpgradedConnections", "-5")]
    public void Start_ConnectionLimitOutOfRange_FailsNamingTheSetting(string setting, string value)
    {
        using var app = new KeystoneAppFactory().WithSetting(setting, value);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains(setting.Split(':')[1], ExceptionText.Flatten(error), StringComparison.Ordinal);
    }

    // A keep-alive connection that was served once, so Kestrel counts it for as long as it stays open.
    private static async Task<TcpClient> OpenServedConnectionAsync(int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var answer = await TryHealthAsync(client);
        Assert.NotNull(answer);
        return client;
    }

    // Sends GET /healthz on the connection; the status line and headers, or null when the server closed it.
    private static async Task<string?> TryHealthAsync(TcpClient client)
    {
        try
        {
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
            using var timeout = new CancellationTokenSource(WaitLimit);
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return read == 0 ? null : Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (IOException)
        {
            return null;
        }
    }

}
