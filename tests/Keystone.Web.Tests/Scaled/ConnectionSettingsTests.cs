using Keystone.Data;
using Keystone.Testing;
using Keystone.Web.Hosting;
using Keystone.Web.Tests.Shared;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Keystone.Web.Tests.Scaled;

/// <summary>The pool settings of the scaled mode: validated, applied to the connection strings, and the arithmetic.</summary>
public sealed class ConnectionSettingsTests
{
    [Theory]
    [InlineData("Database:MaxPoolSize", "1")]
    [InlineData("Database:JobWorkerCount", "0")]
    [InlineData("Database:ExpectedInstances", "0")]
    [InlineData("Database:PoolTimeout", "00:00:00.500")]
    [InlineData("Database:PoolTimeout", "00:30:00")]
    public void Start_PoolSettingOutOfRange_FailsNamingTheSetting(string setting, string value)
    {
        using var app = new KeystoneAppFactory().WithSetting(setting, value);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains(setting, ExceptionText.Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public void ReadDatabase_Postgres_SizesTheApplicationAndJobsPoolsFromTheSettings()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Postgres",
            ["Database:MaxPoolSize"] = "12",
            ["Database:JobWorkerCount"] = "2",
            ["Database:PoolTimeout"] = "00:00:07",
            ["ConnectionStrings:Postgres"] = "Host=db;Database=keystone;Username=keystone_app;Password=x;Maximum Pool Size=100",
        }).Build();

        var (database, connections) = StartupSettings.ReadDatabase(configuration, Path.GetTempPath());

        var app = new NpgsqlConnectionStringBuilder(connections.Postgres);
        var jobs = new NpgsqlConnectionStringBuilder(connections.PostgresJobs);
        Assert.Equal((12, 7, "keystone"), (app.MaxPoolSize, app.Timeout, app.ApplicationName));
        Assert.Equal((5, 7, "keystone-jobs"), (jobs.MaxPoolSize, jobs.Timeout, jobs.ApplicationName));
        Assert.Equal(("keystone_app", "keystone_app"), (app.Username, jobs.Username));
        Assert.Equal(18, database.ConnectionsPerInstance);
    }

    [Theory]
    [InlineData(100, 3, 0, -1, -1, 97, "server")]
    [InlineData(100, 3, 0, 40, -1, 40, "role")]
    [InlineData(100, 3, 0, 40, 30, 30, "database")]
    [InlineData(100, 3, 5, -1, 200, 92, "server")]
    public void Of_TakesTheTightestLimit(int max, int superuserReserved, int reserved, int role, int database, int limit, string source)
    {
        var budget = ConnectionBudget.Of(3, 20, 7, max, superuserReserved, reserved, role, database);

        Assert.Equal(limit, budget.Limit);
        Assert.StartsWith(source, budget.LimitSource, StringComparison.Ordinal);
        Assert.Equal(84, budget.Needed); // 3 × (20 + 7 + 1 listener)
        Assert.Equal(84 <= limit, budget.Fits);
    }

    [Fact]
    public void Defaults_ThreeInstancesFitPostgresDefaultServer()
    {
        var defaults = new DatabaseOptions();

        var budget = ConnectionBudget.Of(3, defaults.MaxPoolSize, defaults.JobsPoolSize, 100, 3, 0, -1, -1);

        Assert.Equal(28, defaults.ConnectionsPerInstance);
        Assert.True(budget.Fits);
        Assert.False(ConnectionBudget.Of(4, defaults.MaxPoolSize, defaults.JobsPoolSize, 100, 3, 0, -1, -1).Fits);
    }

    [Fact]
    public void IsBusy_PoolTimeoutAndRefusedSlotsAndSqliteLocks_AreBusyOtherErrorsAreNot()
    {
        Assert.True(DatabaseErrors.IsBusy(new NpgsqlException("The connection pool has been exhausted", new TimeoutException())));
        Assert.True(DatabaseErrors.IsBusy(new InvalidOperationException("wrapped",
            new PostgresException("remaining connection slots are reserved", "FATAL", "FATAL", "53300"))));
        Assert.True(DatabaseErrors.IsBusy(new SqliteException("database is locked", 5)));
        Assert.False(DatabaseErrors.IsBusy(new PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
        Assert.False(DatabaseErrors.IsBusy(new NpgsqlException("broken")));
        Assert.False(DatabaseErrors.IsBusy(new InvalidOperationException("bug")));
    }
}
