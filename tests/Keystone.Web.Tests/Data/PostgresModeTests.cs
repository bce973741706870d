using System.Net;
using Keystone.Testing;
using Keystone.Web.Hosting;

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
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(new SilentLogProvider());
        // What `--migrate` does besides migrations: Hangfire's schema, owned by the owner, granted to the app role.
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        _app = new KeystoneAppFactory()
            .WithSetting("Database:Provider", "Postgres")
            .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
            .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString);
    }

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
    public async Task JobsDashboard_PostgresMode_OpensForFounder()
    {
        var client = await _app.SignInAsync("founder@keystone.demo");

        var response = await client.GetAsync("/admin/jobs");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Keystone jobs", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

/// <summary>A Hangfire log provider that drops everything (tests only).</summary>
internal sealed class SilentLogProvider : Hangfire.Logging.ILogProvider
{
    public Hangfire.Logging.ILog GetLogger(string name) => new Silent();

    private sealed class Silent : Hangfire.Logging.ILog
    {
        public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null) => false;
    }
}
