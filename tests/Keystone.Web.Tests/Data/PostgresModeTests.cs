using Keystone.Web.Platform;
using System.Net;
using Keystone.Gateway.Credentials;
using Keystone.Testing;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Data;

/// <summary>The whole app in the scaled mode: PostgreSQL (as the application role), Hangfire on PostgreSQL, demo seed.</summary>
public sealed class PostgresModeTests : IAsyncLifetime
{
    private PostgresTestDatabase _db = default!;
    private KeystoneAppFactory _app = default!;

    public async Task InitializeAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        // Hangfire keeps one global log provider; an earlier test host may have left it pointing at a disposed
        // logger factory, which breaks the installer's static logger for the whole process. Give it a live one.
        // What `--migrate` does besides migrations: Hangfire's schema, owned by the owner, granted to the app role.
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        _app = Instance();
    }

    /// <summary>One more instance of the app on the same database (its own folder, as on another machine).</summary>
    private KeystoneAppFactory Instance() => new KeystoneAppFactory()
        .WithSetting("Database:Provider", "Postgres")
        .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
        .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString);

    public async Task DisposeAsync()
    {
        _app.Dispose();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Start_PostgresMode_SeedsAndSignsIn()
    {
        var client = await _app.SignInAsync("admin@acme.demo");

        var home = await client.GetStringAsync("/");

        Assert.Contains("data-test=\"home-TenantAdmin\"", home, StringComparison.Ordinal);
        Assert.Contains("Acme", home, StringComparison.Ordinal);
        Assert.DoesNotContain("Globex", home, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task DataProtection_TwoInstances_OpenWhatTheOtherProtected()
    {
        using var other = Instance();
        var secret = _app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Protect("sign-in ticket");

        // Cookies, antiforgery tokens and BYOK secrets are all protected this way: another instance must open them.
        Assert.Equal("sign-in ticket", other.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Unprotect(secret));
        await _app.Services.GetRequiredService<ProviderCredentialStore>().SetAsync(DemoData.AcmeId, "openai", "sk-acme-own-key-0123456789", null, CancellationToken.None);
        var credentials = await other.Services.GetRequiredService<ProviderCredentialStore>().GetForCallAsync(DemoData.AcmeId, "openai", CancellationToken.None);
        Assert.Equal("sk-acme-own-key-0123456789", credentials!.ApiKey);
        await using var db = _app.CreateSystemDb();
        Assert.Equal(1, await db.DataProtectionKeys.CountAsync());
    }

    [Fact]
    public async Task DataProtection_KeysLeftInTheFolder_AreImportedSoOldSecretsStillOpen()
    {
        // What an earlier version left: a key ring in the folder next to the (unused) SQLite path, and a secret it protected.
        var folder = Path.Combine(_app.DataDirectory, "keys");
        var legacy = new ServiceCollection().AddDataProtection().SetApplicationName("Keystone")
            .PersistKeysToFileSystem(new DirectoryInfo(folder)).Services.BuildServiceProvider();
        var secret = legacy.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Protect("protected before the upgrade");

        var opened = _app.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Unprotect(secret);

        Assert.Equal("protected before the upgrade", opened);
        await using var db = _app.CreateSystemDb();
        var row = await db.DataProtectionKeys.SingleAsync();
        Assert.StartsWith("key-", row.FriendlyName, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsageApi_PostgresMode_AnswersEveryGroupingWithCacheSavings()
    {
        var client = _app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        client.DefaultRequestHeaders.Add("X-Keystone-Feature", "pg-usage");
        for (var i = 0; i < 2; i++)
        {
            var chat = await client.PostAsync("/v1/chat/completions", new StringContent(
                """{"model":"fast","temperature":0,"user":"pg-user","messages":[{"role":"user","content":"Same question on PostgreSQL"}]}""",
                System.Text.Encoding.UTF8, "application/json"));
            chat.EnsureSuccessStatusCode();
        }

        await _app.Services.GetRequiredService<Keystone.Gateway.Recording.CallRecorder>().FlushAsync(CancellationToken.None);

        // The usage query's GROUP BY (date parts, nullable keys, conditional counts) runs in PostgreSQL's SQL too.
        foreach (var groupBy in new[] { "day", "feature", "model", "user", "apiKey" })
        {
            using var usage = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync($"/api/v1/usage?groupBy={groupBy}"));
            var rows = usage.RootElement.GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal(rows.Sum(r => r.GetProperty("calls").GetInt64()), usage.RootElement.GetProperty("totalCalls").GetInt64());
            Assert.Equal(rows.Sum(r => r.GetProperty("savedCostMicros").GetInt64()), usage.RootElement.GetProperty("totalSavedCostMicros").GetInt64());
            Assert.True(rows.Sum(r => r.GetProperty("cacheHits").GetInt64()) >= 1);
            if (groupBy is "feature" or "user")
            {
                var mine = Assert.Single(rows, r => r.GetProperty("key").GetString() is "pg-usage" or "pg-user");
                Assert.Equal(2, mine.GetProperty("calls").GetInt64());
                Assert.Equal(1, mine.GetProperty("cacheHits").GetInt64());
                Assert.Equal(mine.GetProperty("costMicros").GetInt64(), mine.GetProperty("savedCostMicros").GetInt64());
            }
        }
    }

    [Fact]
    public async Task JobsDashboard_PostgresMode_OpensForFounder()
    {
        var client = await _app.SignInAsync("founder@keystone.demo");

        var response = await client.GetAsync("/admin/jobs");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Keystone jobs", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
