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
        Origin = OriginOf(app);
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

    /// <summary>
    /// Extra wait before every answer (scripted or default), on top of the reply's own <see cref="MockReply.Delay"/>:
    /// a provider that takes this long per answer (benchmarks). Default zero.
    /// </summary>
    public TimeSpan AnswerDelay { get; set; }

    /// <summary>
    /// Whether to keep every request for <see cref="Requests"/>. Default true; load benchmarks turn it off so that
    /// hundreds of thousands of requests do not pile up in memory.
    /// </summary>
    public bool KeepRequests { get; set; } = true;

    /// <summary>Queues a reply for the next request.</summary>
    public void Enqueue(MockReply reply) => _script.Enqueue(_ => reply);

    /// <summary>Queues a reply computed from the request (echo a model name, count messages).</summary>
    public void Enqueue(Func<RecordedRequest, MockReply> reply) => _script.Enqueue(reply);

    /// <summary><c>http://127.0.0.1:port/</c> of a started loopback app.</summary>
    public static Uri OriginOf(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
    }

    /// <summary>A minimal Kestrel app on a free loopback port, without logging, running <paramref name="handler"/> for every request.</summary>
    public static async Task<WebApplication> StartAppAsync(Func<HttpContext, Task>? handler = null)
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
        if (KeepRequests)
        {
            _requests.Enqueue(request);
        }

        var reply = _script.TryDequeue(out var next) ? next(request) : DefaultReply(request);

        var ct = context.RequestAborted;
        try
        {
            var delay = reply.Delay + AnswerDelay;
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, ct);
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
                            // End the body early rather than resetting: a reset may drop events the client has not read yet,
                            // which would make "N events, then a cut" nondeterministic.
                            return;
                        }

                        if (i > 0 && sse.BetweenEvents > TimeSpan.Zero)
                        {
                            await Task.Delay(sse.BetweenEvents, ct);
                        }

                        await context.Response.WriteAsync(sse.Events[i] + "\n\n", ct);
                        await context.Response.Body.FlushAsync(ct);
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
