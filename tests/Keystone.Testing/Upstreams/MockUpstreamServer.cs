using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keystone.Testing.Upstreams;

/// <summary>A request the mock upstream received.</summary>
/// <param name="Method">HTTP method.</param>
/// <param name="Path">Path (with the base URL's path, e.g. <c>/v1/chat/completions</c>).</param>
/// <param name="Headers">Request headers (names lower-case).</param>
/// <param name="Body">Body text.</param>
public sealed record RecordedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The body parsed as JSON (a detached clone).</summary>
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    /// <summary>A header's value, or null.</summary>
    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}

/// <summary>One scripted answer of the mock upstream.</summary>
public abstract record MockReply
{
    /// <summary>Wait before sending the status line and headers.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Extra response headers (<c>Retry-After</c>, <c>retry-after-ms</c>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>A JSON (or any text) body with a status code.</summary>
    public static MockReply Json(int status, string body) => new JsonReply(status, body);

    /// <summary>
    /// A <c>text/event-stream</c> body. Each item is one event's raw text without the trailing blank line
    /// (e.g. <c>data: {...}</c> or <c>event: ping\ndata: {...}</c>). With <paramref name="cutAfter"/>, the connection is
    /// aborted after that many events.
    /// </summary>
    public static MockReply Sse(IEnumerable<string> events, TimeSpan? betweenEvents = null, int? cutAfter = null)
        => new SseReply([.. events], betweenEvents ?? TimeSpan.Zero, cutAfter);

    /// <summary>Never answers (until the client goes away): for timeouts and cancellation.</summary>
    public static MockReply Hang() => new HangReply();

    /// <summary>Accepts the request and closes the connection without any response.</summary>
    public static MockReply Reset() => new ResetReply();

    /// <summary>Adds a response header.</summary>
    public MockReply WithHeader(string name, string value)
        => this with { Headers = new Dictionary<string, string>(Headers) { [name] = value } };
}

internal sealed record JsonReply(int Status, string Body) : MockReply;

internal sealed record SseReply(IReadOnlyList<string> Events, TimeSpan BetweenEvents, int? CutAfter) : MockReply;

internal sealed record HangReply : MockReply;

internal sealed record ResetReply : MockReply;

/// <summary>
/// A real HTTP server on 127.0.0.1 (Kestrel, port 0) standing in for a model provider: it answers with scripted
/// replies in order (then with <see cref="DefaultReply"/>) and records every request, so tests can assert the exact
/// wire format an adapter sent. Reusable by the gateway, HTTP API and benchmark tests.
/// </summary>
public class MockUpstreamServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<RecordedRequest, MockReply>> _script = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();

    protected MockUpstreamServer(WebApplication app, string basePath)
    {
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Origin = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        BaseUrl = new Uri(Origin, basePath);
    }

    /// <summary><c>http://127.0.0.1:port/</c>.</summary>
    public Uri Origin { get; }

    /// <summary>The base URL an adapter is configured with (e.g. <c>http://127.0.0.1:port/v1/</c>).</summary>
    public Uri BaseUrl { get; }

    /// <summary>Every request received, in order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>The last request received.</summary>
    public RecordedRequest LastRequest => _requests.LastOrDefault() ?? throw new InvalidOperationException("The mock upstream received no request.");

    /// <summary>What to answer when the script is empty. Default: a 500 that says the script ran out.</summary>
    public Func<RecordedRequest, MockReply> DefaultReply { get; set; } =
        _ => MockReply.Json(500, """{"error":{"message":"mock upstream: no scripted reply left","type":"server_error"}}""");

    /// <summary>Queues a reply for the next request.</summary>
    public void Enqueue(MockReply reply) => _script.Enqueue(_ => reply);

    /// <summary>Queues a reply computed from the request (echo a model name, count messages).</summary>
    public void Enqueue(Func<RecordedRequest, MockReply> reply) => _script.Enqueue(reply);

    protected static async Task<WebApplication> StartAppAsync(Func<HttpContext, Task>? handler = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Keystone.MockUpstream", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        if (handler is not null)
        {
            app.Run(context => handler(context));
        }

        await app.StartAsync();
        return app;
    }

    protected static async Task<T> StartAsync<T>(Func<WebApplication, T> create) where T : MockUpstreamServer
    {
        T? server = null;
        var app = await StartAppAsync(context => server!.HandleAsync(context));
        server = create(app);
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
        var request = new RecordedRequest(context.Request.Method, context.Request.Path + context.Request.QueryString, headers, body);
        _requests.Enqueue(request);
        var reply = _script.TryDequeue(out var next) ? next(request) : DefaultReply(request);

        var ct = context.RequestAborted;
        try
        {
            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay, ct);
            }

            foreach (var (name, value) in reply.Headers)
            {
                context.Response.Headers[name] = value;
            }

            switch (reply)
            {
                case JsonReply json:
                    context.Response.StatusCode = json.Status;
                    context.Response.ContentType = "application/json";
                    await context.Response.WriteAsync(json.Body, ct);
                    break;
                case SseReply sse:
                    context.Response.StatusCode = 200;
                    context.Response.ContentType = "text/event-stream";
                    context.Response.Headers.CacheControl = "no-cache";
                    await context.Response.StartAsync(ct);
                    for (var i = 0; i < sse.Events.Count; i++)
                    {
                        if (sse.CutAfter is { } cut && i >= cut)
                        {
                            context.Abort();
                            return;
                        }

                        if (i > 0 && sse.BetweenEvents > TimeSpan.Zero)
                        {
                            await Task.Delay(sse.BetweenEvents, ct);
                        }

                        await context.Response.WriteAsync(sse.Events[i] + "\n\n", ct);
                        await context.Response.Body.FlushAsync(ct);
                    }

                    if (sse.CutAfter is { } cutAtEnd && cutAtEnd <= sse.Events.Count)
                    {
                        context.Abort();
                    }

                    break;
                case HangReply:
                    await Task.Delay(Timeout.Infinite, ct);
                    break;
                case ResetReply:
                    context.Abort();
                    break;
                default:
                    context.Response.StatusCode = 500;
                    break;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away (a cancelled or timed-out call): nothing left to send.
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
