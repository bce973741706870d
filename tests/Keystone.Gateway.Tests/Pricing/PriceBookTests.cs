using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Pricing;
using Keystone.Gateway.Pricing;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keystone.Gateway.Tests.Pricing;

public sealed class PriceBookTests
{
    private static readonly DateTime Now = new(2026, 11, 22, 12, 0, 0, DateTimeKind.Utc);

    private static async Task<PriceBook> SeededBookAsync(KeystoneDbFactory factory)
    {
        await new PriceSeeder(factory, NullLogger<PriceSeeder>.Instance).SeedAsync(CancellationToken.None);
        var book = new PriceBook(factory);
        await book.ReloadAsync(CancellationToken.None);
        return book;
    }

    [Fact]
    public async Task Seed_RunTwiceOnSqlite_InsertsEveryFileRowOnce()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var seeder = new PriceSeeder(db.CreateFactory(), NullLogger<PriceSeeder>.Instance);

        var first = await seeder.SeedAsync(CancellationToken.None);
        var second = await seeder.SeedAsync(CancellationToken.None);

        Assert.Equal(PriceFile.LoadEmbedded().Count, first);
        Assert.Equal(0, second);
        await using var ctx = db.CreateFactory().ForSystem();
        Assert.Equal(first, await ctx.ModelPrices.CountAsync());
    }

    [Fact]
    public async Task Seed_RunTwiceOnPostgresAsAppRole_InsertsEveryFileRowOnce()
    {
        await using var db = await PostgresTestDatabase.CreateAsync();
        var seeder = new PriceSeeder(db.CreateFactory(), NullLogger<PriceSeeder>.Instance);

        var first = await seeder.SeedAsync(CancellationToken.None);
        var second = await seeder.SeedAsync(CancellationToken.None);

        Assert.True(first >= 13);
        Assert.Equal(0, second);
        var book = new PriceBook(db.CreateFactory());
        await book.ReloadAsync(CancellationToken.None);
        Assert.Equal(first, book.Count);
    }

    [Fact]
    public void PriceFile_RequiredModels_ArePresentWithCitedSources()
    {
        var rows = PriceFile.LoadEmbedded();

        string[] required =
        [
            "openai/gpt-4o-mini", "openai/gpt-4.1", "openai/gpt-4.1-mini", "openai/gpt-5", "openai/gpt-5-mini", "openai/text-embedding-3-small",
            "anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5", "anthropic/claude-opus-4-5",
            "simulated/sim-fast", "simulated/sim-smart", "simulated/sim-reasoning", "simulated/sim-embed",
        ];
        foreach (var key in required)
        {
            // The newest row of each model is its price today (older rows stay for history).
            var row = rows.Where(r => $"{r.Provider}/{r.Model}" == key).MaxBy(r => r.EffectiveFromUtc);
            Assert.NotNull(row);
            Assert.StartsWith(row.Provider == "simulated" ? "Keystone" : "https://", row.Source, StringComparison.Ordinal);
        }

        // Each simulated model costs what the real model it mirrors costs, and says which one (issue 21).
        foreach (var (sim, real) in new[] { ("sim-fast", "gpt-5-mini"), ("sim-smart", "claude-sonnet-4-5"), ("sim-reasoning", "gpt-5"), ("sim-embed", "text-embedding-3-small") })
        {
            var simRow = rows.Where(r => r.Model == sim).MaxBy(r => r.EffectiveFromUtc)!;
            var realRow = rows.Where(r => r.Model == real).MaxBy(r => r.EffectiveFromUtc)!;
            Assert.Equal(realRow.InputMicrosPerMillion, simRow.InputMicrosPerMillion);
            Assert.Equal(realRow.OutputMicrosPerMillion, simRow.OutputMicrosPerMillion);
            Assert.Equal(realRow.CachedInputMicrosPerMillion, simRow.CachedInputMicrosPerMillion);
            Assert.EndsWith($"priced as {realRow.Provider}/{real}", simRow.Source, StringComparison.Ordinal);
        }

        var sonnet = rows.Single(r => r.Model == "claude-sonnet-4-5");
        Assert.Equal(3_000_000, sonnet.InputMicrosPerMillion);
        Assert.Equal(15_000_000, sonnet.OutputMicrosPerMillion);
        Assert.Equal(300_000, sonnet.CachedInputMicrosPerMillion);
        Assert.Equal(3_750_000, sonnet.CacheWrite5mMicrosPerMillion);
        Assert.Equal(6_000_000, sonnet.CacheWrite1hMicrosPerMillion);
    }

    [Fact]
    public async Task Calculate_WithCachedInputTokens_AppliesCachedRate()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var quote = book.Calculate("openai", "gpt-4o-mini", new Usage(2000, 500, CachedInputTokens: 1280), Now);

        // gpt-4o-mini: input $0.15, cached $0.075, output $0.60 per 1M tokens.
        // uncached 720 × 150,000 + cached 1,280 × 75,000 + output 500 × 600,000 = 108,000,000 + 96,000,000 + 300,000,000
        // = 504,000,000 micro-USD·tokens / 1,000,000 = 504 micro-USD.
        Assert.Equal(CostStatus.Exact, quote.Status);
        Assert.Equal(504, quote.CostMicros);
    }

    [Fact]
    public async Task Calculate_FractionalMicros_RoundsHalfUpOnceAtTheEnd()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var down = book.Calculate("openai", "gpt-4o-mini", new Usage(1234, 567), Now);
        var up = book.Calculate("openai", "text-embedding-3-small", new Usage(25, 0), Now);
        var half = book.Calculate("openai", "gpt-4o-mini", new Usage(1, 0), Now);

        // 1,234 × 150,000 + 567 × 600,000 = 185,100,000 + 340,200,000 = 525,300,000 → 525.3 → 525.
        Assert.Equal(525, down.CostMicros);
        // 25 × 20,000 = 500,000 → 0.5 → 1 (half up).
        Assert.Equal(1, up.CostMicros);
        // 1 × 150,000 = 150,000 → 0.15 → 0.
        Assert.Equal(0, half.CostMicros);
        Assert.Equal(0.15m, half.Breakdown!.InputMicros);
    }

    [Fact]
    public async Task Calculate_AnthropicCacheWritesAndReasoning_BillsEachTokenType()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var quote = book.Calculate("anthropic", "claude-opus-4-5",
            new Usage(InputTokens: 10_000, OutputTokens: 800, CachedInputTokens: 4000, CacheWriteTokens: 3000, CacheWrite1hTokens: 2000, ReasoningTokens: 300), Now);

        // claude-opus-4-5: input $5, cache read $0.50, 5m write $6.25, 1h write $10, output $25 per 1M.
        // uncached = 10,000 − 4,000 − 3,000 − 2,000 = 1,000.
        // 1,000 × 5,000,000 + 4,000 × 500,000 + 3,000 × 6,250,000 + 2,000 × 10,000,000 + 800 × 25,000,000 (reasoning is inside output)
        // = 5,000,000,000 + 2,000,000,000 + 18,750,000,000 + 20,000,000,000 + 20,000,000,000 = 65,750,000,000 / 1,000,000 = 65,750.
        Assert.Equal(65_750, quote.CostMicros);
        Assert.Equal(1000, quote.Breakdown!.UncachedInputTokens);
    }

    [Fact]
    public async Task Calculate_BatchDiscount_HalvesTheCost()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var quote = book.Calculate("openai", "gpt-4.1", new Usage(1000, 1000), Now, batch: true);

        // (1,000 × 2,000,000 + 1,000 × 8,000,000) × 50 / 100,000,000 = 10,000,000,000 × 50 / 100,000,000 = 5,000.
        Assert.Equal(5000, quote.CostMicros);
    }

    [Fact]
    public async Task Calculate_UnknownModel_IsUnknownNotFree()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var quote = book.Calculate("openai", "gpt-9-imaginary", new Usage(1000, 1000), Now);
        var wrongProvider = book.Calculate("ollama", "gpt-4o-mini", new Usage(1000, 1000), Now);

        Assert.Equal(CostStatus.Unknown, quote.Status);
        Assert.False(quote.IsKnown);
        Assert.Null(quote.Price);
        Assert.Equal(CostStatus.Unknown, wrongProvider.Status);
    }

    [Fact]
    public async Task Calculate_BeforeFirstEffectiveDate_IsUnknown()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var quote = book.Calculate("anthropic", "claude-opus-4-5", new Usage(10, 10), new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        Assert.Equal(CostStatus.Unknown, quote.Status);
    }

    [Fact]
    public async Task Calculate_DatedSnapshotName_UsesBaseModelPrice()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var book = await SeededBookAsync(db.CreateFactory());

        var openAi = book.Calculate("openai", "gpt-4o-mini-2024-07-18", new Usage(1000, 0), Now);
        var anthropic = book.Calculate("anthropic", "claude-sonnet-4-5-20250929", new Usage(1000, 0), Now);
        var notASnapshot = book.Calculate("openai", "gpt-4.1-nano", new Usage(1000, 0), Now);

        Assert.Equal(150, openAi.CostMicros);
        Assert.Equal(3000, anthropic.CostMicros);
        Assert.Equal(CostStatus.Unknown, notASnapshot.Status);
    }

    [Fact]
    public async Task RefreshIfChanged_NewerPriceRow_OldCallsKeepOldPriceAndNewCallsUseNewPrice()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var factory = db.CreateFactory();
        var book = await SeededBookAsync(factory);
        var cut = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
        await using (var ctx = factory.ForSystem())
        {
            ctx.ModelPrices.Add(new ModelPrice
            {
                Provider = "openai", Model = "gpt-4o-mini", EffectiveFromUtc = cut, InputMicrosPerMillion = 100_000, OutputMicrosPerMillion = 400_000,
                CachedInputMicrosPerMillion = 50_000, Source = "test price cut",
            });
            await ctx.SaveChangesAsync();
        }

        var unchanged = await book.RefreshIfChangedAsync(CancellationToken.None) is var reloaded && reloaded;
        var before = book.Calculate("openai", "gpt-4o-mini", new Usage(1_000_000, 0), cut.AddTicks(-1));
        var after = book.Calculate("openai", "gpt-4o-mini", new Usage(1_000_000, 0), cut);
        var again = await book.RefreshIfChangedAsync(CancellationToken.None);

        Assert.True(unchanged);
        Assert.Equal(150_000, before.CostMicros);
        Assert.Equal(100_000, after.CostMicros);
        Assert.False(again);
    }

    [Fact]
    public void Find_BeforeLoading_Throws()
    {
        var book = new PriceBook(null!);

        Assert.Throws<InvalidOperationException>(() => book.Find("openai", "gpt-4o-mini", Now));
    }
}
