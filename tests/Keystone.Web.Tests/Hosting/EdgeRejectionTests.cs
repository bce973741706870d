using System.Net;
using System.Text.Json;
using Keystone.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// Requests no HTTP library would send, on raw sockets against the real Kestrel in the Production environment: every
/// error on <c>/v1</c> and <c>/api/v1</c> that reaches the app carries OpenAI's error shape, and the ones Kestrel
/// refuses before the app runs are exactly those docs/api.md lists (issue 20, item 8).
/// </summary>
public sealed class EdgeRejectionTests(KestrelAppFixture fixture) : IClassFixture<KestrelAppFixture>
{
    private const string Key = KeystoneAppFactory.DemoApiKey;

    public static TheoryData<string, int> ReachTheApp() => new()
    {
        // Dot segments and doubled slashes normalize out of the API: a 404 in the API's shape, not a console page.
        { "GET /v1/%2e%2e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        { "POST /v1/%2e%2e HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 404 },
        { "POST /v1/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 404 },
        { "DELETE /api/v1/%2E%2E HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        { "GET /api/v1/../../Account/Login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        { "GET //v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        { "GET /v1//models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        { "GET /v1/mo%ZZdels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        { "GET /v1/models%C0%AF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404 },
        // Header values with bytes above 0x7F (RFC 9110 obs-text) reach the app: a wrong key is a 401 that says so.
        { "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ks_caf\u00e9\u00ff\r\nConnection: close\r\n\r\n", 401 },
        { $"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nX-Keystone-Feature: caf\u00e9\r\nConnection: close\r\n\r\n", 200 },
        { $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Type: application/json\r\nX-Keystone-Feature: caf\u00e9\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}", 400 },
        { $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Type: \u00e9/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}", 415 },
        // Bad chunked framing and a declared body over the limit are found while the app reads the body.
        { $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n", 400 },
        { $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{{", 413 },
        { $"POST /api/v1/feedback HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{{\"a\":\r\nZ\r\n", 400 },
        { $"GET /v1/models?x=%00&y=%ZZ&z=%C3%A9&w=%ED%A0%80 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nConnection: close\r\n\r\n", 200 },
    };

    [Theory]
    [MemberData(nameof(ReachTheApp))]
    public async Task Send_MalformedApiRequest_AnswersWithTheErrorShape(string request, int expected)
    {
        var answer = await RawHttp.SendAsync(fixture.Port, request);

        Assert.True(expected == answer.Status, $"expected {expected}, got {answer}");
        Assert.StartsWith("req_", answer.Headers["x-request-id"], StringComparison.Ordinal);
        if (expected >= 400)
        {
            using var body = JsonDocument.Parse(answer.Body);
            var error = body.RootElement.GetProperty("error");
            Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
            Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
            Assert.False(string.IsNullOrEmpty(error.GetProperty("code").GetString()));
        }
    }

    /// <summary>
    /// Refused by Kestrel's HTTP/1.1 parser before any middleware runs (it writes the status with an empty body and
    /// closes the connection): the app cannot shape these. docs/api.md ("Errors the server answers itself") lists them;
    /// if Kestrel ever lets one through, this fails and the list must change.
    /// </summary>
    public static TheoryData<string, int> RefusedByKestrel() => new()
    {
        { "GET /v1/models\0 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET /v1/mo%00dels HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET /v1/models?z=\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Length: abc\r\n\r\n", 400 },
        { $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {Key}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400 },
        { $"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400 },
        { "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-\u00e9: a\r\n\r\n", 400 },
        { "GET /v1/models HTTP/1.1\r\n\r\n", 400 },
        { "GET http://elsewhere/v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "NOT-HTTP\r\n\r\n", 400 },
        { "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + new string('a', 40_000) + "\r\n\r\n", 431 },
        { "GET /v1/models?" + new string('a', 10_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414 },
        { "GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n", 505 },
    };

    [Theory]
    [MemberData(nameof(RefusedByKestrel))]
    public async Task Send_RequestKestrelCannotParse_IsRefusedBeforeTheAppWithAnEmptyAnswer(string request, int expected)
    {
        var answer = await RawHttp.SendAsync(fixture.Port, request);

        Assert.Equal(expected, answer.Status);
        Assert.Equal("close", answer.Headers["connection"]);
        Assert.False(answer.Headers.ContainsKey("x-request-id"), "the app never saw it");
        Assert.Equal("", answer.Body);
    }

    [Theory]
    [InlineData("DELETE /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405)]
    [InlineData("PUT /traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405)]
    public async Task Send_ConsolePathWithAnotherMethod_AnswersItsStatusWithAPlainPage(string request, int expected)
    {
        var answer = await RawHttp.SendAsync(fixture.Port, request);

        Assert.Equal(expected, answer.Status);
        Assert.StartsWith("text/html", answer.Headers["content-type"], StringComparison.Ordinal);
        Assert.Contains(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), answer.Body, StringComparison.Ordinal);
    }
}

/// <summary>The app on a real Kestrel listener (loopback, any free port) in the Production environment.</summary>
public sealed class KestrelAppFixture : IAsyncLifetime
{
    public KeystoneAppFactory App { get; } = new KeystoneAppFactory().WithEnvironment("Production");

    public int Port { get; private set; }

    public Task InitializeAsync()
    {
        App.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        App.StartServer();
        Port = new Uri(App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }
}
