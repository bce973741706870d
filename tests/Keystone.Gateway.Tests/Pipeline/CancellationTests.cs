using System.Net;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>The caller's cancellation reaches the upstream connection, and the call is recorded cancelled with estimated tokens.</summary>
public sealed class CancellationTests
{
    [Fact]
    public async Task Stream_CallerCancelsMidStream_UpstreamSeesDisconnectAndCallIsRecordedCancelledEstimated()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        await using var upstream = await EndlessStreamServer.StartAsync();
        var tenant = await GatewayHarness.CreateTenantAsync(db.CreateFactory(), "cancel");
        await using var gateway = await GatewayHarness.CreateAsync(db.CreateFactory(), new Dictionary<string, string?>
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
            ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
        });
        using var cts = new CancellationTokenSource();
        var received = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in gateway.Gateway.StreamAsync(GatewayHarness.Chat("Talk forever", model: "chat"),
                               new CallContext { TenantId = tenant }, cts.Token))
            {
                if (e is TextDelta && ++received == 5)
                {
                    await cts.CancelAsync();
                }
            }
        });
        await upstream.Disconnected.WaitAsync(TimeSpan.FromSeconds(10));
        await gateway.FlushAsync();

        Assert.True(upstream.Disconnected.IsCompletedSuccessfully);
        await using var read = db.CreateFactory().ForTenant(tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal(CallStatus.Cancelled, call.Status);
        Assert.Equal(CostStatus.Estimated, call.CostStatus);
        Assert.True(call.OutputTokens >= 5, $"output tokens {call.OutputTokens}");
        Assert.True(call.InputTokens > 0);
        Assert.True(call.CostMicros > 0);
    }

    [Fact]
    public async Task Stream_CallerStopsReading_UpstreamSeesDisconnectAndCallIsRecordedCancelled()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        await using var upstream = await EndlessStreamServer.StartAsync();
        var tenant = await GatewayHarness.CreateTenantAsync(db.CreateFactory(), "stop");
        await using var gateway = await GatewayHarness.CreateAsync(db.CreateFactory(), new Dictionary<string, string?>
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
            ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
        });

        var received = 0;
        await foreach (var e in gateway.Gateway.StreamAsync(GatewayHarness.Chat("Talk forever", model: "chat"),
                           new CallContext { TenantId = tenant }, CancellationToken.None))
        {
            if (e is TextDelta && ++received == 3)
            {
                break;
            }
        }

        await upstream.Disconnected.WaitAsync(TimeSpan.FromSeconds(10));
        await gateway.FlushAsync();

        await using var read = db.CreateFactory().ForTenant(tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal(CallStatus.Cancelled, call.Status);
        Assert.Equal(CostStatus.Estimated, call.CostStatus);
    }

    /// <summary>A loopback OpenAI endpoint that streams a token every 20 ms until the client goes away, and reports when it does.</summary>
    private sealed class EndlessStreamServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly TaskCompletionSource _disconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private EndlessStreamServer(WebApplication app) => _app = app;

        public Uri BaseUrl { get; private set; } = null!;

        public Task Disconnected => _disconnected.Task;

        public static async Task<EndlessStreamServer> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var server = new EndlessStreamServer(app);
            app.MapPost("/v1/chat/completions", async (HttpContext context) =>
            {
                context.Response.ContentType = "text/event-stream";
                var ct = context.RequestAborted;
                ct.Register(() => server._disconnected.TrySetResult());
                var first = MockOpenAiServer.StreamEvents("gpt-4o-mini", [], 10, 0)[0];
                try
                {
                    await context.Response.WriteAsync(first + "\n\n", ct);
                    for (var i = 0; ; i++)
                    {
                        var chunk = MockOpenAiServer.StreamEvents("gpt-4o-mini", [$" word{i}"], 10, 1)[1];
                        await context.Response.WriteAsync(chunk + "\n\n", ct);
                        await context.Response.Body.FlushAsync(ct);
                        await Task.Delay(20, ct);
                    }
                }
                catch (OperationCanceledException)
                {
                    // The gateway went away: that is what the test waits for.
                }
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.BaseUrl = new Uri(new Uri(address), "/v1/");
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
