using Keystone.Data.Calls;
using Keystone.Data.Routing;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>Alias resolution, rate limits, BYOK and the stored trace, through the whole pipeline.</summary>
public sealed class PipelineBehaviourTests : IAsyncLifetime
{
    private SqliteTestDatabase _db = null!;
    private MockOpenAiServer _upstream = null!;
    private GatewayHarness _gateway = null!;
    private Guid _tenant;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _upstream = await MockOpenAiServer.StartAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "behaviour");
        _gateway = await GatewayHarness.CreateAsync(_db.CreateFactory(), new Dictionary<string, string?>(GatewayHarness.InstantSim)
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = _upstream.BaseUrl.ToString(),
            ["Gateway:Providers:up:ApiKey"] = "sk-platform-key-0000000000",
            ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
            ["Gateway:UserRequestsPerMinute"] = "3",
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Complete_UnknownModel_Is404ModelNotFoundAndRecordedRejected()
    {
        var ex = await Assert.ThrowsAsync<GatewayException>(() => _gateway.Gateway.CompleteAsync(
            GatewayHarness.Chat("Hi", model: "gpt-9"), new CallContext { TenantId = _tenant }, CancellationToken.None));
        await _gateway.FlushAsync();

        Assert.Equal(GatewayErrorCodes.ModelNotFound, ex.Error.Code);
        Assert.Equal(404, ex.Error.HttpStatus);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var row = await read.Calls.AsNoTracking().SingleAsync();
        Assert.Equal(CallStatus.Rejected, row.Status);
        Assert.Equal("model_not_found", row.ErrorCode);
    }

    [Fact]
    public async Task Complete_RawProviderModelNotAllowed_Is403ButAllowedOnceInThePolicy()
    {
        var raw = GatewayHarness.Chat("Hi", model: "up/gpt-4o-mini");

        var ex = await Assert.ThrowsAsync<GatewayException>(() =>
            _gateway.Gateway.CompleteAsync(raw, new CallContext { TenantId = _tenant }, CancellationToken.None));
        await using (var db = _db.CreateFactory().ForTenant(_tenant))
        {
            db.TenantModelPolicies.Add(new TenantModelPolicy { TenantId = _tenant, AllowedModels = "chat up/gpt-4o-mini", UpdatedUtc = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }

        _gateway.Services.GetRequiredService<Gateway.Pipeline.TenantSettings>().Invalidate(_tenant);
        var allowed = await _gateway.Gateway.CompleteAsync(raw, new CallContext { TenantId = _tenant }, CancellationToken.None);
        var fastRefused = await Assert.ThrowsAsync<GatewayException>(() =>
            _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi"), new CallContext { TenantId = _tenant }, CancellationToken.None));

        Assert.Equal(GatewayErrorCodes.ModelNotAllowed, ex.Error.Code);
        Assert.Equal(403, ex.Error.HttpStatus);
        Assert.Equal("up", allowed.Outcome.Provider);
        Assert.Equal(GatewayErrorCodes.ModelNotAllowed, fastRefused.Error.Code);
    }

    [Fact]
    public async Task Complete_OverUserRateLimit_Is429RateLimitExceededWithRetryAfter()
    {
        var context = new CallContext { TenantId = _tenant, EndUser = "end-user-1" };
        for (var i = 0; i < 3; i++)
        {
            await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi"), context, CancellationToken.None);
        }

        var ex = await Assert.ThrowsAsync<GatewayException>(() => _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi"), context, CancellationToken.None));
        var otherUser = await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi"), context with { EndUser = "end-user-2" }, CancellationToken.None);

        Assert.Equal(GatewayErrorCodes.RateLimitExceeded, ex.Error.Code);
        Assert.Equal(429, ex.Error.HttpStatus);
        Assert.True(ex.Error.RetryAfter > TimeSpan.Zero);
        Assert.Equal(CallStatus.Ok, otherUser.Outcome.Status);
    }

    [Fact]
    public async Task Complete_TenantHasOwnKey_UpstreamGetsTenantKeyAndCallIsBilledToTenantKey()
    {
        var store = _gateway.Services.GetRequiredService<ProviderCredentialStore>();
        var info = await store.SetAsync(_tenant, "up", "sk-tenant-own-key-123456789", null, CancellationToken.None);

        var result = await _gateway.Gateway.CompleteAsync(GatewayHarness.Chat("Hi", model: "chat"), new CallContext { TenantId = _tenant },
            CancellationToken.None);
        await _gateway.FlushAsync();

        Assert.Equal("…6789", info.Masked);
        Assert.Equal("Bearer sk-tenant-own-key-123456789", _upstream.LastRequest.Header("authorization"));
        Assert.Equal(BilledTo.TenantKey, result.Outcome.BilledTo);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var stored = await read.ProviderCredentials.AsNoTracking().SingleAsync();
        Assert.DoesNotContain("sk-tenant-own-key", stored.ProtectedSecret, StringComparison.Ordinal);
        var trace = (await TracePayloads.ReadAsync(read, await read.Calls.Select(c => c.Id).ToListAsync(), raw: true, default)).Values.Single();
        Assert.DoesNotContain("sk-tenant-own-key", trace.RawRequestJson ?? "", StringComparison.Ordinal);
        Assert.Equal(BilledTo.TenantKey, (await read.Calls.AsNoTracking().SingleAsync()).BilledTo);
    }

    [Fact]
    public async Task Complete_PromptWithPersonalData_TraceStoresRedactedCopyAndKeepsRaw()
    {
        var request = GatewayHarness.Chat("My email is jane@example.com and my card is 4111 1111 1111 1111", model: "chat");

        var result = await _gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = _tenant }, CancellationToken.None);
        await _gateway.FlushAsync();

        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var trace = (await TracePayloads.ReadOneAsync(read, result.Outcome.CallId, raw: true, default))!;
        Assert.Contains(Redactor.EmailToken, trace.RequestJson, StringComparison.Ordinal);
        Assert.Contains(Redactor.CardToken, trace.RequestJson, StringComparison.Ordinal);
        Assert.DoesNotContain("jane@example.com", trace.RequestJson, StringComparison.Ordinal);
        // The search index holds the redacted text: the call is found by its words and by the redaction, never by the address.
        Assert.Equal(new[] { result.Outcome.CallId }, await read.TraceIdsMatching(["email", "card"]).ToListAsync());
        Assert.Equal(new[] { result.Outcome.CallId }, await read.TraceIdsMatching(["redacted", "email"]).ToListAsync());
        Assert.Empty(await read.TraceIdsMatching(["jane"]).ToListAsync());
        Assert.Contains("jane@example.com", trace.RawRequestJson, StringComparison.Ordinal);
        Assert.Equal(2, trace.RedactionCount);
        Assert.Contains("Hello from the mock.", trace.ResponseJson, StringComparison.Ordinal);
        // The answer had nothing to redact: its raw copy would only repeat it.
        Assert.Null(trace.RawResponseJson);
    }

    [Fact]
    public async Task Complete_NothingToRedact_StoresNoRawCopy()
    {
        var request = GatewayHarness.Chat("What is the capital of France?", model: "chat");

        var result = await _gateway.Gateway.CompleteAsync(request, new CallContext { TenantId = _tenant }, CancellationToken.None);
        await _gateway.FlushAsync();

        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var trace = (await TracePayloads.ReadOneAsync(read, result.Outcome.CallId, raw: true, default))!;
        Assert.Contains("capital of France", trace.RequestJson, StringComparison.Ordinal);
        Assert.Equal(0, trace.RedactionCount);
        Assert.Null(trace.RawRequestJson);
        Assert.Null(trace.RawResponseJson);
    }

    [Fact]
    public async Task Models_DefaultConfiguration_ListsTheFourSimulatedAliases()
    {
        var models = await _gateway.Gateway.ModelsAsync(_tenant, CancellationToken.None);

        Assert.Contains(models, m => m.Id == "smart" && m.Targets.SequenceEqual(["sim/sim-smart"]));
        Assert.Contains(models, m => m.Id == "embed" && m.IsEmbedding);
        Assert.Contains(models, m => m.Id == "chat");
        Assert.DoesNotContain(models, m => m.Kind == "model");
    }
}
