using System.Net;
using System.Net.Http.Headers;
using Keystone.Testing.Upstreams;
using Microsoft.AspNetCore.Builder;

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

    /// <summary>For the stage profile: the client's send time and the flush that carried the first words, per stream.</summary>
    public static readonly System.Collections.Concurrent.ConcurrentQueue<long[]> Flushes = new();

    public static async Task<BareProxy> StartAsync(Uri upstreamChat)
    {
        var upstream = ApiBenchmarkHost.CreateClient();
        var app = await MockUpstreamServer.StartAppAsync(async http =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            using var forward = new HttpRequestMessage(HttpMethod.Post, upstreamChat) { Content = new ByteArrayContent(body.ToArray()), Version = HttpVersion.Version11 };
            forward.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            // Headers first, then the body copied as it comes (flushed per read), so a stream passes through as a stream.
            using var answer = await upstream.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
            http.Response.StatusCode = (int)answer.StatusCode;
            http.Response.ContentType = answer.Content.Headers.ContentType?.ToString() ?? "application/json";
            http.Response.ContentLength = answer.Content.Headers.ContentLength;
            await using var from = await answer.Content.ReadAsStreamAsync(http.RequestAborted);
            var buffer = new byte[16 * 1024];
            int read;
            var sent = http.Request.Headers.TryGetValue(PeerReport.SentHeader, out var v) ? long.Parse(v.ToString(), System.Globalization.CultureInfo.InvariantCulture) : 0;
            while ((read = await from.ReadAsync(buffer, http.RequestAborted)) > 0)
            {
                await http.Response.Body.WriteAsync(buffer.AsMemory(0, read), http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
                if (sent != 0 && buffer.AsSpan(0, read).IndexOf("\"content\":\"T"u8) >= 0)
                {
                    // The stage profile's one point in the bare proxy: the flush of the first words (--stages).
                    Flushes.Enqueue([sent, System.Diagnostics.Stopwatch.GetTimestamp()]);
                    sent = 0;
                }
            }
        });
        return new BareProxy(app, upstream) { Url = new Uri(MockUpstreamServer.OriginOf(app), "/v1/chat/completions") };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
