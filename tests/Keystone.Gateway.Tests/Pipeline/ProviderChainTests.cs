using System.Text.Json;
using Keystone.Data.Calls;
using Keystone.Gateway.Routing;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>Fallback, timeouts, cut streams and the circuit breaker against two real loopback OpenAI servers.</summary>
public sealed class ProviderChainTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private MockOpenAiServer _primary = null!;
    private MockOpenAiServer _secondary = null!;
    private Guid _tenant;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _primary = await MockOpenAiServer.StartAsync();
        _secondary = await MockOpenAiServer.StartAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "chain");
    }

    public async Task DisposeAsync()
    {
        await _primary.DisposeAsync();
        await _secondary.DisposeAsync();
        await _db.DisposeAsync();
    }

    private Task<GatewayHarness> GatewayAsync(TimeProvider? clock = null, string attemptTimeout = "00:00:30") => GatewayHarness.CreateAsync(
        _db.CreateFactory(),
        new Dictionary<string, string?>
        {
            ["Gateway:Providers:primary:Kind"] = "OpenAI",
            ["Gateway:Providers:primary:BaseUrl"] = _primary.BaseUrl.ToString(),
            ["Gateway:Providers:secondary:Kind"] = "OpenAI",
            ["Gateway:Providers:secondary:BaseUrl"] = _secondary.BaseUrl.ToString(),
            ["Gateway:Aliases:chat:0"] = "primary/gpt-4o-mini",
            ["Gateway:Aliases:chat:1"] = "secondary/gpt-4o-mini",
            ["Gateway:AttemptTimeout"] = attemptTimeout,
            ["Gateway:CircuitFailureThreshold"] = "2",
            ["Gateway:CircuitBreakDuration"] = "00:00:30",
        },
        clock);

    private CallContext Context => new() { TenantId = _tenant, Feature = "chain" };

    private static ChatRequest Request => GatewayHarness.Chat("Hello there", model: "chat");

    [Fact]
    public async Task Complete_PrimaryReturns503_SecondaryAnswersAndTraceShowsBothAttempts()
    {
        await using var gateway = await GatewayAsync();
        _primary.Enqueue(MockReply.Json(503, MockOpenAiServer.Error("overloaded")));

        var result = await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);
        await gateway.FlushAsync();

        Assert.Equal("Hello from the mock.", result.Text);
        Assert.Equal("secondary", result.Outcome.Provider);
        Assert.True(result.Outcome.FellBack);
        Assert.Collection(result.Outcome.Attempts,
            a => { Assert.Equal("primary", a.Provider); Assert.Equal(503, a.StatusCode); Assert.Equal("error", a.Outcome); },
            a => { Assert.Equal("secondary", a.Provider); Assert.Equal("ok", a.Outcome); });
        Assert.Single(_primary.Requests);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var trace = (await TracePayloads.ReadOneAsync(read, result.Outcome.CallId, raw: true, default))!;
        var attempts = JsonDocument.Parse(trace.AttemptsJson!).RootElement;
        Assert.Equal(2, attempts.GetArrayLength());
        Assert.Equal(503, attempts[0].GetProperty("statusCode").GetInt32());
        var call = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == result.Outcome.CallId);
        Assert.Equal(2, call.Attempts);
        Assert.True(call.FellBack);
        Assert.Equal(CallStatus.Ok, call.Status);
    }

    [Fact]
    public async Task Complete_PrimaryHangs_TimesOutAndSecondaryAnswers()
    {
        await using var gateway = await GatewayAsync(attemptTimeout: "00:00:00.300");
        _primary.Enqueue(MockReply.Hang());

        var result = await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);

        Assert.Equal("secondary", result.Outcome.Provider);
        Assert.Equal("timeout", result.Outcome.Attempts[0].Outcome);
        Assert.Equal("ok", result.Outcome.Attempts[1].Outcome);
    }

    [Fact]
    public async Task Stream_PrimaryCutBeforeFirstToken_SecondaryStreamsTheAnswer()
    {
        await using var gateway = await GatewayAsync();
        // Only the role chunk is sent (no text), then the connection is cut.
        _primary.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["never", " sent"], 12, 2), cutAfter: 1));

        var events = await gateway.StreamAllAsync(Request, Context);

        var started = Assert.IsType<StreamStarted>(events[0]);
        Assert.Equal("secondary", started.Provider);
        Assert.Equal("Hello from the mock.", string.Concat(events.OfType<TextDelta>().Select(d => d.Text)));
        var completed = Assert.IsType<StreamCompleted>(events[^1]);
        Assert.Equal(2, completed.Result.Outcome.Attempts.Count);
        Assert.Equal("primary", completed.Result.Outcome.Attempts[0].Provider);
        Assert.Equal("error", completed.Result.Outcome.Attempts[0].Outcome);
    }

    [Fact]
    public async Task Stream_CutAfterTokensReachedCaller_EndsWithStreamFailedAndRecordsIncomplete()
    {
        await using var gateway = await GatewayAsync();
        // Role chunk and two text chunks reach the caller, then the connection is cut.
        _primary.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["Partial", " answer", " lost"], 12, 3), cutAfter: 3));

        var events = await gateway.StreamAllAsync(Request, Context);
        await gateway.FlushAsync();

        Assert.Equal("Partial answer", string.Concat(events.OfType<TextDelta>().Select(d => d.Text)));
        var failed = Assert.IsType<StreamFailed>(events[^1]);
        Assert.Equal(GatewayErrorCodes.StreamInterrupted, failed.Error.Code);
        Assert.DoesNotContain(events, e => e is StreamCompleted);
        Assert.Empty(_secondary.Requests);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var call = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == failed.Outcome!.CallId);
        Assert.Equal(CallStatus.Incomplete, call.Status);
        Assert.True(call.OutputTokens > 0);
        Assert.Equal(CostStatus.Estimated, call.CostStatus);
        Assert.True(call.CostMicros > 0);
    }

    [Fact]
    public async Task Complete_RepeatedFailures_OpenCircuitThenHalfOpenProbeClosesIt()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayAsync(clock);
        var circuits = gateway.Services.GetRequiredService<CircuitBreakers>();
        var primary = new ModelTarget("primary", "gpt-4o-mini");
        _primary.Enqueue(MockReply.Json(500, MockOpenAiServer.Error("boom")));
        _primary.Enqueue(MockReply.Json(502, MockOpenAiServer.Error("bad gateway")));

        await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);
        Assert.Equal(CircuitState.Closed, circuits.StateOf(primary));
        await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);
        Assert.Equal(CircuitState.Open, circuits.StateOf(primary));

        var whileOpen = await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);
        Assert.Equal("circuit_open", whileOpen.Outcome.Attempts[0].Outcome);
        Assert.Equal("secondary", whileOpen.Outcome.Provider);
        Assert.Equal(2, _primary.Requests.Count);

        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(CircuitState.HalfOpen, circuits.StateOf(primary));
        var probe = await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);

        Assert.Equal("primary", probe.Outcome.Provider);
        Assert.Equal(3, _primary.Requests.Count);
        Assert.Equal(CircuitState.Closed, circuits.StateOf(primary));
    }

    [Fact]
    public async Task Complete_HalfOpenProbeFails_CircuitOpensAgain()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayAsync(clock);
        var circuits = gateway.Services.GetRequiredService<CircuitBreakers>();
        var primary = new ModelTarget("primary", "gpt-4o-mini");
        for (var i = 0; i < 3; i++)
        {
            _primary.Enqueue(MockReply.Json(503, MockOpenAiServer.Error("down")));
        }

        await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);
        await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(31));
        var probe = await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);

        Assert.Equal("secondary", probe.Outcome.Provider);
        Assert.Equal(3, _primary.Requests.Count);
        Assert.Equal(CircuitState.Open, circuits.StateOf(primary));
    }

    [Fact]
    public async Task Complete_429OnLastTarget_IsNotRetriedOnTheSameTarget()
    {
        await using var gateway = await GatewayAsync();
        _primary.Enqueue(MockReply.Json(503, MockOpenAiServer.Error("down")));
        _secondary.Enqueue(MockReply.Json(429, MockOpenAiServer.Error("slow down", "rate_limit_error")).WithHeader("Retry-After", "1"));

        var ex = await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None));

        Assert.Equal(GatewayErrorCodes.UpstreamUnavailable, ex.Error.Code);
        Assert.Equal(503, ex.Error.HttpStatus);
        Assert.Single(_secondary.Requests);
        Assert.Equal(CallStatus.Error, ex.Outcome!.Status);
    }

    [Fact]
    public async Task Complete_500OnLastTarget_IsRetriedOnceThenAnswers()
    {
        await using var gateway = await GatewayAsync();
        _primary.Enqueue(MockReply.Json(503, MockOpenAiServer.Error("down")));
        _secondary.Enqueue(MockReply.Json(500, MockOpenAiServer.Error("blip")));

        var result = await gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None);

        Assert.Equal(3, result.Outcome.Attempts.Count);
        Assert.Equal(2, _secondary.Requests.Count);
        Assert.Equal("ok", result.Outcome.Attempts[2].Outcome);
    }

    [Fact]
    public async Task Complete_400FromPrimary_DoesNotFallBack()
    {
        await using var gateway = await GatewayAsync();
        _primary.Enqueue(MockReply.Json(400, MockOpenAiServer.Error("bad request", "invalid_request_error")));

        var ex = await Assert.ThrowsAsync<GatewayException>(() => gateway.Gateway.CompleteAsync(Request, Context, CancellationToken.None));

        Assert.Equal(GatewayErrorCodes.UpstreamError, ex.Error.Code);
        Assert.Equal(400, ex.Error.HttpStatus);
        Assert.Empty(_secondary.Requests);
    }
}
