using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>The exact cache and idempotency keys, counted at a real loopback upstream.</summary>
public sealed class CacheAndIdempotencyTests() : UpstreamGatewayTest(upstream => new()
{
    ["Gateway:Providers:up:Kind"] = "OpenAI",
    ["Gateway:Providers:up:BaseUrl"] = upstream.BaseUrl.ToString(),
    ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
})
{
    private static ChatRequest Cached(string text = "What is Keystone?") => GatewayHarness.Chat(text, model: "chat", cache: true);

    [Fact]
    public async Task Complete_SameRequestSameTenant_SecondIsServedFromCacheAndRecordsSavedCost()
    {
        var context = new CallContext { TenantId = Acme };

        var first = await Harness.Gateway.CompleteAsync(Cached(), context, CancellationToken.None);
        var second = await Harness.Gateway.CompleteAsync(Cached(), context, CancellationToken.None);
        await Harness.FlushAsync();

        Assert.Single(Upstream.Requests);
        Assert.Equal(CacheStatus.None, first.Outcome.CacheStatus);
        Assert.True(first.Outcome.CostMicros > 0);
        Assert.Equal(CacheStatus.Exact, second.Outcome.CacheStatus);
        Assert.Equal(0, second.Outcome.CostMicros);
        Assert.Equal(first.Outcome.CostMicros, second.Outcome.SavedCostMicros);
        Assert.Equal(first.Text, second.Text);
        await using var read = Db.CreateFactory().ForTenant(Acme);
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
        await Harness.Gateway.CompleteAsync(Cached(), new CallContext { TenantId = Acme }, CancellationToken.None);

        var other = await Harness.Gateway.CompleteAsync(Cached(), new CallContext { TenantId = Globex }, CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Stream_CachedAnswer_IsReplayedAsDeltasWithoutAnUpstreamCall()
    {
        var context = new CallContext { TenantId = Acme };
        var first = await Harness.Gateway.CompleteAsync(Cached("Stream me"), context, CancellationToken.None);

        var events = await Harness.StreamAllAsync(Cached("Stream me"), context);

        Assert.Single(Upstream.Requests);
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
        var context = new CallContext { TenantId = Acme };
        var tool = new ToolDefinition("lookup", null, null);
        var first = Cached("Same words") with { Tools = [tool] };
        var second = option switch
        {
            "frequency" => first with { FrequencyPenalty = 1 },
            "presence" => first with { PresencePenalty = 1 },
            "effort" => first with { ReasoningEffort = "high" },
            _ => first with { ParallelToolCalls = false },
        };

        await Harness.Gateway.CompleteAsync(first, context, CancellationToken.None);
        var other = await Harness.Gateway.CompleteAsync(second, context, CancellationToken.None);
        var again = await Harness.Gateway.CompleteAsync(second, context, CancellationToken.None);

        Assert.Equal(CacheStatus.None, other.Outcome.CacheStatus);
        Assert.Equal(CacheStatus.Exact, again.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_NoOptInAndTemperatureAboveZero_DoesNotUseTheCache()
    {
        var context = new CallContext { TenantId = Acme };
        var request = GatewayHarness.Chat("Be creative", model: "chat") with { Temperature = 0.7 };

        await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var second = await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(CacheStatus.None, second.Outcome.CacheStatus);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_TemperatureZero_UsesTheCacheWithoutOptIn()
    {
        var context = new CallContext { TenantId = Acme };
        var request = GatewayHarness.Chat("Be exact", model: "chat") with { Temperature = 0 };

        await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var second = await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(CacheStatus.Exact, second.Outcome.CacheStatus);
        Assert.Single(Upstream.Requests);
    }

    [Fact]
    public async Task Complete_SameIdempotencyKey_ReturnsFirstResultWithoutSecondCallOrCharge()
    {
        var context = new CallContext { TenantId = Acme, IdempotencyKey = "order-42" };
        var request = GatewayHarness.Chat("Charge once", model: "chat");

        var first = await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var again = await Harness.Gateway.CompleteAsync(request, context with { RequestId = "retry" }, CancellationToken.None);
        await Harness.FlushAsync();

        Assert.Single(Upstream.Requests);
        Assert.Equal(first.Outcome.CallId, again.Outcome.CallId);
        Assert.Equal(first.Text, again.Text);
        await using var read = Db.CreateFactory().ForTenant(Acme);
        Assert.Equal(1, await read.Calls.CountAsync());
        Assert.Equal(first.Outcome.CostMicros, await read.Calls.SumAsync(c => c.CostMicros));
    }

    [Fact]
    public async Task Complete_SameIdempotencyKeyOtherTenant_IsIndependent()
    {
        var request = GatewayHarness.Chat("Charge once", model: "chat");

        var acme = await Harness.Gateway.CompleteAsync(request, new CallContext { TenantId = Acme, IdempotencyKey = "k1" }, CancellationToken.None);
        var globex = await Harness.Gateway.CompleteAsync(request, new CallContext { TenantId = Globex, IdempotencyKey = "k1" }, CancellationToken.None);

        Assert.NotEqual(acme.Outcome.CallId, globex.Outcome.CallId);
        Assert.Equal(2, Upstream.Requests.Count);
    }

    [Fact]
    public async Task Complete_SameIdempotencyKeyConcurrently_ReachesTheProviderOnceAndTellsTheOthersItIsInProgress()
    {
        var context = new CallContext { TenantId = Acme, IdempotencyKey = "order-race" };
        var request = GatewayHarness.Chat("Charge once, even when retried at once", model: "chat");
        Upstream.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "Charged.", 10, 2)) with { Delay = TimeSpan.FromMilliseconds(500) });

        var calls = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try
            {
                return (Result: await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None), Error: (GatewayError?)null);
            }
            catch (GatewayException ex)
            {
                return (Result: (ChatResult?)null, Error: ex.Error);
            }
        })).ToList();
        var outcomes = await Task.WhenAll(calls);

        Assert.Single(Upstream.Requests);
        var answered = outcomes.Where(o => o.Result is not null).Select(o => o.Result!).ToList();
        Assert.NotEmpty(answered);
        Assert.Single(answered.Select(r => r.Outcome.CallId).Distinct());
        Assert.All(outcomes.Where(o => o.Error is not null), o =>
        {
            Assert.Equal(GatewayErrorCodes.IdempotencyInProgress, o.Error!.Code);
            Assert.Equal(409, o.Error.HttpStatus);
        });
        var after = await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);
        Assert.Equal(answered[0].Outcome.CallId, after.Outcome.CallId);
        Assert.Single(Upstream.Requests);
    }

    [Fact]
    public async Task Complete_IdempotencyKeyWhoseFirstCallFailed_RunsAgainOnRetry()
    {
        var context = new CallContext { TenantId = Acme, IdempotencyKey = "order-retry" };
        var request = GatewayHarness.Chat("Fail first", model: "chat");
        Upstream.Enqueue(MockReply.Json(400, MockOpenAiServer.Error("bad request", "invalid_request_error")));

        await Assert.ThrowsAsync<GatewayException>(() => Harness.Gateway.CompleteAsync(request, context, CancellationToken.None));
        var retry = await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);
        var again = await Harness.Gateway.CompleteAsync(request, context, CancellationToken.None);

        Assert.Equal(2, Upstream.Requests.Count);
        Assert.Equal(retry.Outcome.CallId, again.Outcome.CallId);
    }
}
