using System.Globalization;
using System.Text;
using System.Text.Json;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Features.Usage;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;
using Keystone.Web.Tests.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Usage;

/// <summary>
/// <c>GET /api/v1/usage</c> and the usage page answer from the same query service, so for the same tenant and range
/// they agree to the micro-dollar with each other and with the raw calls — calls the rollup has not reached included.
/// Run on SQLite and PostgreSQL by the subclasses below.
/// </summary>
public abstract class UsageAgreementTests : IAsyncLifetime
{
    protected KeystoneAppFactory App { get; private set; } = default!;

    protected abstract Task<KeystoneAppFactory> CreateAppAsync();

    public async Task InitializeAsync() => App = (await CreateAppAsync())
        // The test runs the rollup itself, between its two batches of calls; the schedule must not run it as well.
        .WithSetting("Dashboards:RollupCron", "0 0 1 1 *");

    public virtual Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }

    private static async Task CallAsync(HttpClient client, string feature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"model":"fast","user":"agree-user","messages":[{"role":"user","content":"agree {{Guid.NewGuid()}}"}]}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Keystone-Feature", feature);
        (await client.SendAsync(request)).EnsureSuccessStatusCode();
    }

    private Task FlushAsync() => App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);

    [Fact]
    public async Task UsageApiAndUsagePage_CallsBeforeAndAfterARollup_AgreeToTheMicroDollarWithTheRawCalls()
    {
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        await CallAsync(client, "agree-a");
        await CallAsync(client, "agree-b");
        await CallAsync(client, "agree-a");
        await FlushAsync();
        await using (var scope = App.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<UsageRollupJob>().RunAsync(CancellationToken.None);
        }

        await CallAsync(client, "agree-a");
        await CallAsync(client, "agree-c");
        await FlushAsync();
        await using var db = App.CreateSystemDb();
        var acme = db.Calls.AsNoTracking().Where(c => c.TenantId == DemoData.AcmeId);
        var first = await acme.MinAsync(c => c.CreatedUtc);
        var last = await acme.MaxAsync(c => c.CreatedUtc);
        var range = new ReportRange(first, last.AddDays(1));
        var raw = acme.Where(c => c.CreatedUtc >= range.FromUtc && c.CreatedUtc < range.ToUtc);
        var rawCost = await raw.SumAsync(c => c.CostMicros);
        var rawCalls = await raw.LongCountAsync();
        var rawByFeature = (await raw.Select(c => new { c.Feature, c.CostMicros }).ToListAsync())
            .GroupBy(c => c.Feature).ToDictionary(g => g.Key, g => g.Sum(c => c.CostMicros));
        var rolledUpCalls = await db.UsageRollups.AsNoTracking()
            .Where(r => r.TenantId == DemoData.AcmeId && r.Grain == Keystone.Data.Rollups.RollupGrain.Day
                && r.BucketStartUtc >= range.FromUtc && r.BucketStartUtc < range.ToUtc)
            .SumAsync(r => r.Calls);
        Assert.True(rolledUpCalls > 0 && rolledUpCalls < rawCalls, $"set-up: {rolledUpCalls} of {rawCalls} calls rolled up");
        var window = string.Create(CultureInfo.InvariantCulture, $"from={range.FromUtc:yyyy-MM-dd}&to={range.ToUtc:yyyy-MM-dd}");

        using var byDay = JsonDocument.Parse(await client.GetStringAsync($"/api/v1/usage?groupBy=day&{window}"));
        using var byFeature = JsonDocument.Parse(await client.GetStringAsync($"/api/v1/usage?groupBy=feature&{window}"));
        TenantUsage? page;
        await using (var scope = App.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(KeysTestPrincipals.AcmeAdmin());
            page = await scope.ServiceProvider.GetRequiredService<UsageQueries>().UsageAsync(range, CancellationToken.None);
        }

        Assert.NotNull(page);
        Assert.Equal(rawCost, byDay.RootElement.GetProperty("totalCostMicros").GetInt64());
        Assert.Equal(rawCost, byFeature.RootElement.GetProperty("totalCostMicros").GetInt64());
        Assert.Equal(rawCost, page.CostMicros);
        Assert.Equal(rawCalls, byDay.RootElement.GetProperty("totalCalls").GetInt64());
        Assert.Equal(rawCalls, page.Calls);
        var apiDays = byDay.RootElement.GetProperty("rows").EnumerateArray()
            .ToDictionary(r => r.GetProperty("key").GetString()!, r => r.GetProperty("costMicros").GetInt64());
        Assert.All(page.Days, d => Assert.Equal(apiDays.GetValueOrDefault(d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)), d.CostMicros));
        var apiFeatures = byFeature.RootElement.GetProperty("rows").EnumerateArray()
            .ToDictionary(r => r.GetProperty("key").GetString()!, r => r.GetProperty("costMicros").GetInt64());
        Assert.Equal(rawByFeature.OrderBy(f => f.Key, StringComparer.Ordinal), apiFeatures.OrderBy(f => f.Key, StringComparer.Ordinal));
        Assert.Equal(rawByFeature.OrderBy(f => f.Key, StringComparer.Ordinal),
            page.ByFeature.ToDictionary(f => f.Key, f => f.CostMicros).OrderBy(f => f.Key, StringComparer.Ordinal));
        Assert.Equal(5, page.ByFeature.Where(f => f.Key.StartsWith("agree-", StringComparison.Ordinal)).Sum(f => f.Calls));
    }
}

public sealed class SqliteUsageAgreementTests : UsageAgreementTests
{
    protected override Task<KeystoneAppFactory> CreateAppAsync() => Task.FromResult(new KeystoneAppFactory());
}

public sealed class PostgresUsageAgreementTests : UsageAgreementTests
{
    private PostgresTestDatabase _db = default!;

    protected override async Task<KeystoneAppFactory> CreateAppAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        // As PostgresModeTests: a live Hangfire log provider, and the schema --migrate would install.
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        return new KeystoneAppFactory()
            .WithSetting("Database:Provider", "Postgres")
            .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
            .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _db.DisposeAsync();
    }
}
