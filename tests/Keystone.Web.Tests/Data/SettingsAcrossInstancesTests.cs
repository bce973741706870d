using System.Net;
using System.Text;
using System.Text.Json;
using Keystone.Gateway;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Pipeline;
using Keystone.Testing;
using Keystone.Web.Features.Keys;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;
using Keystone.Web.Tests.Api;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Data;

/// <summary>
/// Issue 20, items 14 and 17: two instances on one PostgreSQL database. A setting changed on one (a key's rate limit, a
/// cap, a BYOK key, a revocation) applies to the next call there and on the other within the sync interval, although
/// both cache settings for five to ten minutes here (so the cache TTL cannot be what makes these pass); a refusal names the
/// limit that was enforced.
/// </summary>
public sealed class SettingsAcrossInstancesTests : IAsyncLifetime
{
    // Well above the feed's latency (milliseconds) and the rate-limit sync interval (1 s), far below the caches' TTL.
    private static readonly TimeSpan SyncDeadline = TimeSpan.FromSeconds(5);

    private PostgresTestDatabase _db = default!;
    private KeystoneAppFactory _a = default!;
    private KeystoneAppFactory _b = default!;

    public async Task InitializeAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        _a = Instance();
        _ = _a.Server;
        _b = Instance();
        _ = _b.Server;
    }

    private KeystoneAppFactory Instance() => new KeystoneAppFactory()
        .WithSetting("Database:Provider", "Postgres")
        .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
        .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString)
        .WithSetting("Gateway:SettingsCacheTtl", "00:10:00")
        .WithSetting("ApiKeys:LookupCacheTtl", "00:05:00");

    public async Task DisposeAsync()
    {
        _a.Dispose();
        _b.Dispose();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task SetLimits_KeyRateLimitChangedOnOneInstance_AppliesToTheNextCallThereAndWithinTheSyncIntervalOnTheOther()
    {
        var created = await AsAcmeAdminAsync(_a, s => s.CreateAsync(new NewApiKey("limited", [ApiKeyScopes.Chat]), CancellationToken.None));
        var onB = Client(_b, created.Secret);
        // The plan's default applies until the key has a limit of its own (B caches that).
        Assert.NotEqual("3", (await ChatAsync(onB)).Headers.GetValues("x-ratelimit-limit-requests").Single());

        await AsAcmeAdminAsync(_a, async s => { await s.SetLimitsAsync(created.Key.Id, 3, null, BudgetPeriod.Month, CancellationToken.None); return true; });

        // This instance: the very next call.
        Assert.Equal("3", (await ChatAsync(Client(_a, created.Secret))).Headers.GetValues("x-ratelimit-limit-requests").Single());
        // The other: within the sync interval, and the limit holds there.
        await EventuallyAsync(async () => (await _b.Services.GetRequiredService<TenantSettings>().GetAsync(DemoData.AcmeId, CancellationToken.None))
            .ApiKeyRequestsPerMinute.GetValueOrDefault(created.Key.Id) == 3);
        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++)
        {
            answers.Add(await ChatAsync(onB));
        }

        Assert.Contains(answers, a => a.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.All(answers, a => Assert.Equal("3", a.Headers.GetValues("x-ratelimit-limit-requests").Single()));
    }

    [Fact]
    public async Task PutBudgets_CapLoweredOnOneInstance_TheOtherRefusesNamingTheNewLimit()
    {
        var adminOnA = Client(_a, KeystoneAppFactory.DemoApiKey);
        var onB = Client(_b, KeystoneAppFactory.DemoApiKey);
        await PutCapAsync(adminOnA, 50_000_000);
        Assert.Equal(HttpStatusCode.OK, (await ChatAsync(onB, "cross-cap")).StatusCode);

        await PutCapAsync(adminOnA, 1);
        var refused = await ChatAsync(onB, "cross-cap");

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        using var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        var error = body.RootElement.GetProperty("error");
        Assert.Equal("budget_exceeded", error.GetProperty("code").GetString());
        Assert.Equal(1, error.GetProperty("cap").GetProperty("limit_micros").GetInt64());
        Assert.Contains("feature 'cross-cap' day cap ($0.000001;", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("50000000", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await EventuallyAsync(async () => (await _b.Services.GetRequiredService<TenantSettings>().GetAsync(DemoData.AcmeId, CancellationToken.None))
            .Caps.Any(c => c.Key == "cross-cap" && c.LimitMicros == 1));
    }

    [Fact]
    public async Task PutBudgets_UserRateSetOnOneInstance_TheOtherRefusesTheUserAtItNamingIt()
    {
        var onB = Client(_b, KeystoneAppFactory.DemoApiKey);
        // B loads (and caches) Acme's settings before the change.
        Assert.Equal(HttpStatusCode.OK, (await ChatAsync(onB, user: "rate-warm-up")).StatusCode);

        var put = await Client(_a, KeystoneAppFactory.DemoApiKey).PutAsync("/api/v1/budgets",
            new StringContent("""{"userRequestsPerMinute":2}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        await EventuallyAsync(async () => (await _b.Services.GetRequiredService<TenantSettings>().GetAsync(DemoData.AcmeId, CancellationToken.None))
            .UserRequestsPerMinute == 2);
        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await ChatAsync(onB, user: "rate-user"));
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], answers.Select(a => a.StatusCode));
        using var body = JsonDocument.Parse(await answers[2].Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_exceeded", body.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("limit of 2 requests per minute for user 'rate-user'", body.RootElement.GetProperty("error").GetProperty("message").GetString(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reserve_SnapshotStillHoldsTheOldLimit_RefusalNamesTheLimitTheDatabaseEnforced()
    {
        var adminOnA = Client(_a, KeystoneAppFactory.DemoApiKey);
        await PutCapAsync(adminOnA, 50_000_000);
        var stale = (await _b.Services.GetRequiredService<TenantSettings>().GetAsync(DemoData.AcmeId, CancellationToken.None))
            .Caps.Single(c => c.Key == "cross-cap");
        await PutCapAsync(adminOnA, 10);

        // What a call on B did in the moment before the news arrived: reserve against the snapshot it had read.
        var (reservation, rejection) = await _b.Services.GetRequiredService<BudgetLedger>().ReserveAsync(DemoData.AcmeId, Guid.NewGuid(), [stale], 100, CancellationToken.None);

        Assert.Null(reservation);
        Assert.Equal(10, rejection!.Cap.LimitMicros);
    }

    [Fact]
    public async Task RevokeAndByok_ChangedOnOneInstance_ApplyOnTheOtherWithinTheSyncInterval()
    {
        var created = await AsAcmeAdminAsync(_a, s => s.CreateAsync(new NewApiKey("revoked", [ApiKeyScopes.Chat]), CancellationToken.None));
        Assert.Equal(HttpStatusCode.OK, (await Client(_b, created.Secret).GetAsync("/v1/models")).StatusCode);
        Assert.Null(await _b.Services.GetRequiredService<ProviderCredentialStore>().GetForCallAsync(DemoData.AcmeId, "sim", CancellationToken.None));

        await AsAcmeAdminAsync(_a, s => s.RevokeAsync(created.Key.Id, CancellationToken.None));
        await _a.Services.GetRequiredService<ProviderCredentialStore>().SetAsync(DemoData.AcmeId, "sim", "sk-across-instances-0123", null, CancellationToken.None);

        await EventuallyAsync(async () => (await Client(_b, created.Secret).GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized);
        await EventuallyAsync(async () => (await _b.Services.GetRequiredService<ProviderCredentialStore>()
            .GetForCallAsync(DemoData.AcmeId, "sim", CancellationToken.None))?.ApiKey == "sk-across-instances-0123");
    }

    private static async Task<T> AsAcmeAdminAsync<T>(KeystoneAppFactory app, Func<ApiKeyService, Task<T>> action)
    {
        await using var scope = app.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(KeysTestPrincipals.AcmeAdmin());
        return await action(scope.ServiceProvider.GetRequiredService<ApiKeyService>());
    }

    private static async Task PutCapAsync(HttpClient admin, long limitMicros)
    {
        var put = await admin.PutAsync("/api/v1/budgets", new StringContent(
            $$"""{"caps":[{"scope":"feature","key":"cross-cap","period":"day","limitMicros":{{limitMicros}}}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
    }

    private static HttpClient Client(KeystoneAppFactory app, string key)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return client;
    }

    private static Task<HttpResponseMessage> ChatAsync(HttpClient client, string feature = "across", string? user = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"model":"fast","max_tokens":16,"messages":[{"role":"user","content":"Across instances"}]{{(user is null ? "" : $",\"user\":\"{user}\"")}}}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Keystone-Feature", feature);
        return client.SendAsync(request);
    }

    // Polls a condition that another instance brings about; fails if it does not hold within the sync deadline.
    private static async Task EventuallyAsync(Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow + SyncDeadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, $"Not seen on the other instance within {SyncDeadline.TotalSeconds:0} s.");
            await Task.Delay(50);
        }
    }
}
