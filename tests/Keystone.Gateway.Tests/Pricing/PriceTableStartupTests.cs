using Keystone.Gateway.Pricing;
using Keystone.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keystone.Gateway.Tests.Pricing;

public sealed class PriceTableStartupTests
{
    [Fact]
    public async Task StartAsync_MigratedDatabase_SeedsAndLoadsThePriceBook()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var factory = db.CreateFactory();
        var book = new PriceBook(factory);
        await using var startup = new PriceTableStartup(new PriceSeeder(factory, NullLogger<PriceSeeder>.Instance), book, TimeProvider.System,
            NullLogger<PriceTableStartup>.Instance);

        await startup.StartAsync(CancellationToken.None);
        await startup.StopAsync(CancellationToken.None);

        Assert.True(book.IsLoaded);
        Assert.Equal(PriceFile.LoadEmbedded().Count, book.Count);
        Assert.NotNull(book.Find("simulated", "sim-smart", DateTime.UtcNow));
    }

    [Fact]
    public async Task StartAsync_TableMissing_DoesNotFailStartAndLeavesTheBookUnloaded()
    {
        var dir = Path.Combine(Path.GetTempPath(), "keystone-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var factory = new Keystone.Data.KeystoneDbFactory(
            Microsoft.Extensions.Options.Options.Create(new Keystone.Data.DatabaseOptions { Provider = Keystone.Data.DatabaseProvider.Sqlite, SqlitePath = "empty.db" }),
            new Keystone.Data.KeystoneConnectionStrings { BaseDirectory = dir });
        var book = new PriceBook(factory);
        await using var startup = new PriceTableStartup(new PriceSeeder(factory, NullLogger<PriceSeeder>.Instance), book, TimeProvider.System,
            NullLogger<PriceTableStartup>.Instance);

        await startup.StartAsync(CancellationToken.None);
        await startup.StopAsync(CancellationToken.None);

        Assert.False(book.IsLoaded);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }
}
