using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>The exact cache and idempotency keys, counted at a real loopback upstream.</summary>
public sealed class CacheAndIdempotencyTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private MockOpenAiServer _upstream = null!;
    private GatewayHarness _gateway = null!;
    private Guid _acme;
    private Guid _globex;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _upstream = await MockOpenAiServer.StartAsync();
        _acme = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "acme");
        _globex = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "globex");
        _gateway = await GatewayHarness.CreateAsync(_db.CreateFactory(), new Dictionary<string, string?>
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = _upstream.BaseUrl.ToString(),
            ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
        await _db.DisposeAsync();
    }

    private static ChatRequest Cached(string text = "What is Keystone?") => GatewayHarness.Chat(text, model: "chat", cache: true);

    [Fact]
    public async Task Complete_SameRequestSameTenant_SecondIsServedFromCacheAndRecordsSavedCost()
    {
        var context = new CallContext { TenantId = _acme };

        var first = await _gateway.Gateway.CompleteAsync(Cached(), context, CancellationToken.None);
        var second = await _gateway.Gateway.CompleteAsync(Cached(), context, CancellationToken.None);
        await _gateway.FlushAsync();

        Assert.Single(_upstream.Requests);
        Assert.Equal(CacheStatus.None, first.Outcome.CacheStatus);
        Assert.True(first.Outcome.CostMicros > 0);
        Assert.Equal(CacheStatus.Exact, second.Outcome.CacheStatus);
        Assert.Equal(0, second.Outcome.CostMicros);
        Assert.Equal(first.Outcome.CostMicros, second.Outcome.SavedCostMicros);
        Assert.Equal(first.Text, second.Text);
        await using var read = _db.CreateFactory().ForTenant(_acme);
        var row = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == second.Outcome.CallId);
        Assert.Equal(CacheStatus.Exact, row.CacheStatus);
        Assert.Equal(first.Outcome.CostMicros, row.SavedCostMicros);
        Assert.Equal(0, row.Attempts);
        Assert.Equal(first.Outcome.CallId, row.CacheSourceCallId);
        Assert.Null(row.CacheSimilarity);
        // The answer names the model that gave it; the row keeps per-model figures to real provider calls.
        Assert.Equal((first.Outcome.Provider, first.Outcome.Model), (second.Outcome.Provider, second.Outcome.Model));
        Assert.NotNull(second.Outcome.Model);
        Assert.Null(row.Model);
    }

    [Fact]
    public async Task Complete_SameRequestOtherTenant_IsNeverServedFromTheFirstTenantsCache()
    {
        await _gateway.Gateway.CompleteAsync(Cached(), new CallContext { TenantId = _acme }, CancellationToken.None);

        var other = await _gateway.Gateway.CompleteAsync(Cached(), new CallContext { TenantId = _globex }, CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Fact]
    public async Task Stream_CachedAnswer_IsReplayedAsDeltasWithoutAnUpstreamCall()
    {
        var context = new CallContext { TenantId = _acme };
        var first = await _gateway.Gateway.CompleteAsync(Cached("Stream me"), context, CancellationToken.None);

        var events = await _gateway.StreamAllAsync(Cached("Stream me"), context);

        Assert.Single(_upstream.Requests);
        Assert.Equal(CacheStatus.Exact, Assert.IsType<StreamStarted>(events[0]).CacheStatus);
        Assert.Equal(first.Text, string.Concat(events.OfType<TextDelta>().Select(d => d.Text)));
        var done = Assert.IsType<StreamCompleted>(events[^1]);
        Assert.Equal(CacheStatus.Exact, done.Result.Outcome.CacheStatus);
    }

    public static TheoryData<string> OptionsThatChangeTheAnswer => ["frequency", "presence", "effort", "parallel"];

    [Theory]
    [MemberData(nameof(OptionsThatChangeTheAnswer))]
    public async Task Complete_SameMessagesOtherSamplingOption_IsNotServedTheFirstAnswer(string option)
    {
        var context = new CallContext { TenantId = _acme };
        var tool = new ToolDefinition("lookup", null, null);
        var first = Cached("Same words") with { Tools = [tool] };
        var second = option switch
        {
            "frequency" => first with { FrequencyPenalty = 1 },
            "presence" => first with { PresencePenalty = 1 },
            "effort" => first with { ReasoningEffort = "high" },
            _ => first with { ParallelToolCalls = false },
        };

        await _gateway.Gateway.CompleteAsync(first, context, CancellationToken.None);
        var other = await _gateway.Gateway.CompleteAsync(second, context, CancellationToken.None);
        var again = await _gateway.Gateway.CompleteAsync(second, context, CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Exact, again.Outcome.CacheStatus);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_NoOptInAndTemperatureAboveZero_DoesNotUseTheCache()
    {
        var context = new CallContext { TenantId = _acme };
        var request = GatewayHarness.Chat("Be creative", model: "chat") with { Temperature = 0.7 };

        await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var second = await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(CacheStatus.None, second.Outcome.CacheStatus);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_TemperatureZero_UsesTheCacheWithoutOptIn()
    {
        var context = new CallContext { TenantId = _acme };
        var request = GatewayHarness.Chat("Be exact", model: "chat") with { Temperature = 0 };

        await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var second = await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(CacheStatus.Exact, second.Outcome.CacheStatus);
        Assert.Single(_upstream.Requests);
    }

    [Fact]
    public async Task Complete_SameIdempotencyKey_ReturnsFirstResultWithoutSecondCallOrCharge()
    {
        var context = new CallContext { TenantId = _acme, IdempotencyKey = "order-42" };
        var request = GatewayHarness.Chat("Charge once", model: "chat");

        var first = await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var again = await _gateway.Gateway.CompleteAsync(request, context with { RequestId = "retry" }, CancellationToken.None);
        await _gateway.FlushAsync();

        Assert.Single(_upstream.Requests);
        Assert.Equal(first.Outcome.CallId, again.Outcome.CallId);
        Assert.Equal(first.Text, again.Text);
        await using var read = _db.CreateFactory().ForTenant(_acme);
        Assert.Equal(1, await read.Calls.CountAsync());
        Assert.Equal(first.Outcome.CostMicros, await read.Calls.SumAsync(c => c.CostMicros));
    }

    [Fact]
    public async Task Complete_SameIdempotencyKeyOtherTenant_IsIndependent()
    {
        var request = GatewayHarness.Chat("Charge once", model: "chat");

        var acme = await _gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = _acme, IdempotencyKey = "k1" }, CancellationToken.None);
        var globex = await _gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = _globex, IdempotencyKey = "k1" }, CancellationToken.None);

        Assert.NotEqual(acme.Outcome.CallId, globex.Outcome.CallId);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_SameIdempotencyKeyConcurrently_ReachesTheProviderOnceAndTellsTheOthersItIsInProgress()
    {
        var context = new CallContext { TenantId = _acme, IdempotencyKey = "order-race" };
        var request = GatewayHarness.Chat("Charge once, even when retried at once", model: "chat");
        _upstream.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "Charged.", 10, 2)) with { Delay = TimeSpan.FromMilliseconds(500) });

        var calls = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try
            {
                return (Result: await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None), Error: (GatewayError?)null);
            }
            catch (GatewayException ex)
            {
                return (Result: (ChatResult?)null, Error: ex.Error);
            }
        })).ToList();
        var outcomes = await Task.WhenAll(calls);

        Assert.Single(_upstream.Requests);
        var answered = outcomes.Where(o => o.Result is not null).Select(o => o.Result!).ToList();
        Assert.NotEmpty(answered);
        Assert.Single(answered.Select(r => r.Outcome.CallId).Distinct());
        Assert.All(outcomes.Where(o => o.Error is not null), o =>
        {
            Assert.Equal(GatewayErrorCodes.IdempotencyInProgress, o.Error!.Code);
            Assert.Equal(409, o.Error.HttpStatus);
        });
        var after = await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
        Assert.Equal(answered[0].Outcome.CallId, after.Outcome.CallId);
        Assert.Single(_upstream.Requests);
    }

    [Fact]
    public async Task Complete_IdempotencyKeyWhoseFirstCallFailed_RunsAgainOnRetry()
    {
        var context = new CallContext { TenantId = _acme, IdempotencyKey = "order-retry" };
        var request = GatewayHarness.Chat("Fail first", model: "chat");
        _upstream.Enqueue(MockReply.Json(400, MockOpenAiServer.Error("bad request", "invalid_request_error")));

        await Assert.ThrowsAsync<GatewayException>(() => _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None));
        var retry = await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var again = await _gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(2, _upstream.Requests.Count);
        Assert.Equal(retry.Outcome.CallId, again.Outcome.CallId);
    }
}
