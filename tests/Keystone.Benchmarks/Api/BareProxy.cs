using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// The baseline for the HTTP API's throughput ratio: a Kestrel endpoint that does nothing but forward the body to
/// the mock with an <see cref="HttpClient"/> and copy the answer back — no authentication, parsing, gateway or
/// recording. It pays exactly the second HTTP exchange any gateway in front of the mock pays, so its ratio is the
/// ceiling for every HTTP proxy on this machine, and Keystone's distance from it is Keystone's own work.
/// </summary>
internal sealed class BareProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;

    private BareProxy(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    public Uri Url { get; private set; } = null!;

    public static async Task<BareProxy> StartAsync(Uri upstreamChat)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Keystone.BareProxy", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var upstream = ApiBenchmarkHost.CreateClient();
        app.Run(async http =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            using var forward = new HttpRequestMessage(HttpMethod.Post, upstreamChat) { Content = new ByteArrayContent(body.ToArray()), Version = HttpVersion.Version11 };
            forward.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var answer = await upstream.SendAsync(forward, HttpCompletionOption.ResponseContentRead, http.RequestAborted);
            var bytes = await answer.Content.ReadAsByteArrayAsync(http.RequestAborted);
            http.Response.StatusCode = (int)answer.StatusCode;
            http.Response.ContentType = "application/json";
            http.Response.ContentLength = bytes.Length;
            await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BareProxy(app, upstream) { Url = new Uri(new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)), "/v1/chat/completions") };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
