using System.Net;
using System.Text;
using Keystone.Data;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Traces;
using Keystone.Web.Features.Usage.DemoHistory;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Scaled;

/// <summary>Two instances on one PostgreSQL database, as the README's scaled section runs them.</summary>
public sealed class TwoInstancesTests
{
    private static readonly string[] DemoTraceUsers = [.. TracesDemoSeed.Conversations.Select(c => c.EndUser).Distinct()];

    [Fact]
    public async Task Calls_HundredAtOnceOnTwoInstancesWithFewConnections_NoServerErrorAndEveryAnswerRecorded()
    {
        await using var db = await ScaledInstances.MigratedAsync();
        // A small server in miniature: 22 connections for the whole database (the shared cluster keeps its settings).
        // Each instance: 5 for the application pool + 1 job worker + 3 + 1 listener = 10; two fit in 20, and the test's
        // own checks use the rest. Unbounded pools (Npgsql's default 100 each) answered 500s here (53300: too many
        // connections).
        await db.SetConnectionLimitAsync(22);
        using var a = Small(db, "instance-a");
        using var b = Small(db, "instance-b");
        _ = a.Server;
        _ = b.Server;
        var clients = new[] { Client(a), Client(b) };

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => clients[i % 2].PostAsync("/v1/chat/completions",
            new StringContent($$"""{"model":"fast","messages":[{"role":"user","content":"Call {{i}} on a small database"}]}""", Encoding.UTF8, "application/json"))));

        var failures = new List<string>();
        foreach (var r in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
        {
            failures.Add($"{(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        var traceIds = responses.Select(r => Guid.Parse(r.Headers.GetValues("X-Keystone-Trace-Id").Single())).ToList();
        foreach (var app in new[] { a, b })
        {
            var recorder = app.Services.GetRequiredService<CallRecorder>();
            await recorder.FlushAsync(CancellationToken.None);
            Assert.Equal(0, recorder.Lost);
        }

        await using var check = a.CreateSystemDb();
        Assert.Equal(100, await check.Calls.CountAsync(c => traceIds.Contains(c.TraceId)));
    }

    [Fact]
    public async Task Seed_TwoInstancesStartingTogether_SeedTheDemoOnce()
    {
        await using var db = await ScaledInstances.MigratedAsync();
        using var a = ScaledInstances.Instance(db, "instance-a").WithSetting("Seed:DemoHistoryDays", "2");
        using var b = ScaledInstances.Instance(db, "instance-b").WithSetting("Seed:DemoHistoryDays", "2");

        await Task.WhenAll(Task.Run(() => a.Server), Task.Run(() => b.Server));

        foreach (var app in new[] { a, b })
        {
            await app.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        }

        await using var check = a.CreateSystemDb();
        var memberId = await check.Users.Where(u => u.Email == "member@acme.demo").Select(u => u.Id).SingleAsync();
        var planned = DemoTraffic.Plan(2, DateTime.UtcNow, memberId).Count;
        // The demo eval runs' recorded calls (feature eval) are seeded once too: two calls (answer, judge) per example and run.
        var evalResults = await check.EvalResults.CountAsync();
        Assert.Equal(planned, await check.Calls.CountAsync(c => c.Feature != EvalRunJob.Feature && (c.EndUser == null || !DemoTraceUsers.Contains(c.EndUser))));
        Assert.Equal(2 * evalResults, await check.Calls.CountAsync(c => c.Feature == EvalRunJob.Feature));
        Assert.Equal(TracesDemoSeed.Conversations.Count, await check.Calls.CountAsync(c => c.EndUser != null && DemoTraceUsers.Contains(c.EndUser)));
        Assert.Equal(DemoData.Users.Count, await check.Users.CountAsync());
        Assert.Equal(4, await check.Tenants.CountAsync(t => t.IsDemo));
    }

    [Fact]
    public async Task CheckConnections_MoreInstancesThanTheDatabaseLimitHolds_WarnsNamingTheSettings()
    {
        await using var db = await ScaledInstances.MigratedAsync();
        await db.SetConnectionLimitAsync(20);
        var log = new ListLogger<PostgresDatabaseStartupChecks>();
        var options = Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres, MaxPoolSize = 5, JobWorkerCount = 1, ExpectedInstances = 3 });
        var checks = new PostgresDatabaseStartupChecks(db.CreateFactory(), options, log);

        var budget = await checks.CheckConnectionsAsync(CancellationToken.None);

        Assert.NotNull(budget);
        Assert.Equal((30, 20, false), (budget.Needed, budget.Limit, budget.Fits));
        var warning = Assert.Single(log.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("Database:ExpectedInstances 3 × 10", warning.Message, StringComparison.Ordinal);
        Assert.Contains("database's CONNECTION LIMIT", warning.Message, StringComparison.Ordinal);
        Assert.Contains("Database:MaxPoolSize", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_EveryPooledConnectionBusyPastTheTimeout_Answers503DatabaseBusyInTheErrorShape()
    {
        await using var db = await ScaledInstances.MigratedAsync();
        using var app = ScaledInstances.Instance(db)
            .WithSetting("Database:MaxPoolSize", "2")
            .WithSetting("Database:PoolTimeout", "00:00:01");
        var client = Client(app);
        var factory = app.Services.GetRequiredService<KeystoneDbFactory>();
        await using var first = factory.ForSystem();
        await using var second = factory.ForSystem();
        await first.Database.OpenConnectionAsync();
        await second.Database.OpenConnectionAsync();

        var response = await client.GetAsync("/api/v1/calls");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        using var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("database_busy", body.RootElement.GetProperty("error").GetProperty("code").GetString());
        await first.Database.CloseConnectionAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/calls")).StatusCode);
    }

    private static KeystoneAppFactory Small(PostgresTestDatabase db, string name) => ScaledInstances.Instance(db, name)
        .WithSetting("Database:MaxPoolSize", "5")
        .WithSetting("Database:JobWorkerCount", "1")
        .WithSetting("Database:ExpectedInstances", "2");

    private static HttpClient Client(KeystoneAppFactory app)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }
}

/// <summary>Keeps what was logged (tests only).</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public List<(LogLevel Level, string Message)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries)
        {
            Entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
