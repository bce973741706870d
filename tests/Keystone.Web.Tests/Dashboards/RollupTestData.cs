using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Rollups;
using Keystone.Web.Features.Usage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>Random but reproducible call data for rollup tests, and the sums a rollup must reproduce.</summary>
internal static class RollupTestData
{
    public static readonly Guid[] Tenants = [Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid()];

    private static readonly string[] Features = ["support-bot", "summarize", "classify", "search"];
    private static readonly string[] Aliases = ["fast", "smart", "openai/gpt-4o-mini"];
    private static readonly (string? Provider, string? Model)[] Targets =
        [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku"), ("simulated", "sim-large"), (null, null)];
    private static readonly CallStatus[] Statuses =
        [CallStatus.Ok, CallStatus.Ok, CallStatus.Ok, CallStatus.Ok, CallStatus.Error, CallStatus.Cancelled, CallStatus.Incomplete, CallStatus.Rejected];

    public static List<LlmCall> Calls(Random random, int count, DateTime fromUtc, int hours) => Enumerable.Range(0, count).Select(_ =>
    {
        var (provider, model) = Targets[random.Next(Targets.Length)];
        var input = random.Next(0, 5_000);
        var output = random.Next(0, 2_000);
        return new LlmCall
        {
            Id = Guid.NewGuid(),
            TraceId = Guid.NewGuid(),
            TenantId = Tenants[random.Next(Tenants.Length)],
            UserId = random.Next(4) == 0 ? "user-" + random.Next(5) : null,
            EndUser = random.Next(3) == 0 ? null : "end-" + random.Next(40),
            Feature = Features[random.Next(Features.Length)],
            Alias = Aliases[random.Next(Aliases.Length)],
            Provider = provider,
            Model = model,
            InputTokens = input,
            OutputTokens = output,
            CachedInputTokens = random.Next(0, input + 1),
            CacheWriteTokens = random.Next(0, 50),
            CacheWrite1hTokens = random.Next(0, 20),
            ReasoningTokens = random.Next(0, output + 1),
            CostMicros = random.Next(0, 20_000),
            CostStatus = random.Next(20) == 0 ? CostStatus.Unknown : CostStatus.Exact,
            BilledTo = (BilledTo)random.Next(3),
            CacheStatus = (CacheStatus)random.Next(3),
            SavedCostMicros = random.Next(0, 3) == 0 ? random.Next(0, 5_000) : 0,
            Attempts = random.Next(0, 3),
            FellBack = random.Next(6) == 0,
            Status = Statuses[random.Next(Statuses.Length)],
            // Exact bucket bounds are covered too: 100, 250, … land in the upper bucket.
            LatencyMs = random.Next(4) == 0 ? LatencyHistogram.UpperBoundsMs[random.Next(LatencyHistogram.UpperBoundsMs.Count)] : random.Next(0, 40_000),
            TtftMs = random.Next(2) == 0 ? null : random.Next(0, 3_000),
            // Sub-second times at random, so bucket edges and text-sorted SQLite times are exercised.
            CreatedUtc = fromUtc.AddHours(random.Next(hours)).AddMinutes(random.Next(60)).AddSeconds(random.Next(60))
                .AddTicks(random.Next(2) == 0 ? 0 : random.Next(10_000_000)),
        };
    }).ToList();

    internal static UsageRollupJob Job(KeystoneDbFactory factory) => new(factory, Sql(factory), TimeProvider.System, NullLogger<UsageRollupJob>.Instance);

    /// <summary>The rollup statements of the factory's database, as registration picks them in the app.</summary>
    internal static IRollupSql Sql(KeystoneDbFactory factory) =>
        factory.Provider == DatabaseProvider.Postgres ? new PostgresRollupSql() : new SqliteRollupSql();

    public static async Task InsertAsync(KeystoneDbFactory factory, IEnumerable<LlmCall> calls)
    {
        await using var db = factory.ForSystem();
        db.Calls.AddRange(calls);
        await db.SaveChangesAsync();
    }

    /// <summary>The sums a set of rows (rollup or raw) must agree on, per tenant and UTC day.</summary>
    public sealed record Totals(long Calls, long Errors, long Rejections, long Cancellations, long Fallbacks, long CacheHits,
        long Input, long Output, long CachedInput, long CacheWrite, long Reasoning, long Cost, long Saved, long UnknownCost,
        long LatencySum, long TtftCount, long TtftSum, string Latency, string Ttft);

    public static Dictionary<(Guid, DateTime), Totals> RawTotals(IEnumerable<LlmCall> calls) => calls
        .GroupBy(c => (c.TenantId, c.CreatedUtc.Date))
        .ToDictionary(g => g.Key, g => new Totals(
            g.Count(),
            g.Count(c => c.Status is CallStatus.Error or CallStatus.Incomplete),
            g.Count(c => c.Status == CallStatus.Rejected),
            g.Count(c => c.Status == CallStatus.Cancelled),
            g.Count(c => c.FellBack),
            g.Count(c => c.CacheStatus != CacheStatus.None),
            g.Sum(c => (long)c.InputTokens), g.Sum(c => (long)c.OutputTokens), g.Sum(c => (long)c.CachedInputTokens),
            g.Sum(c => (long)c.CacheWriteTokens + c.CacheWrite1hTokens), g.Sum(c => (long)c.ReasoningTokens),
            g.Sum(c => c.CostMicros), g.Sum(c => c.SavedCostMicros), g.Count(c => c.CostStatus == CostStatus.Unknown),
            g.Sum(c => (long)c.LatencyMs), g.Count(c => c.TtftMs is not null), g.Sum(c => (long)(c.TtftMs ?? 0)),
            Histogram(g.Select(c => (int?)c.LatencyMs)), Histogram(g.Select(c => c.TtftMs))));

    public static Dictionary<(Guid, DateTime), Totals> RollupTotals(IEnumerable<UsageRollup> rows) => rows
        .GroupBy(r => (r.TenantId, r.BucketStartUtc.Date))
        .ToDictionary(g => g.Key, g => new Totals(
            g.Sum(r => r.Calls), g.Sum(r => r.Errors), g.Sum(r => r.Rejections), g.Sum(r => r.Cancellations), g.Sum(r => r.Fallbacks),
            g.Sum(r => r.CacheHits), g.Sum(r => r.InputTokens), g.Sum(r => r.OutputTokens), g.Sum(r => r.CachedInputTokens),
            g.Sum(r => r.CacheWriteTokens), g.Sum(r => r.ReasoningTokens), g.Sum(r => r.CostMicros), g.Sum(r => r.SavedCostMicros),
            g.Sum(r => r.UnknownCostCalls), g.Sum(r => r.LatencyMsSum), g.Sum(r => r.TtftCount), g.Sum(r => r.TtftMsSum),
            string.Join(",", Lat(g)), string.Join(",", Ttft(g))));

    private static string Histogram(IEnumerable<int?> values)
    {
        var counts = new long[LatencyHistogram.BucketCount];
        foreach (var v in values)
        {
            if (v is { } ms)
            {
                counts[LatencyHistogram.BucketOf(ms)]++;
            }
        }

        return string.Join(",", counts);
    }

    private static IEnumerable<long> Lat(IEnumerable<UsageRollup> g) =>
    [
        g.Sum(r => r.Lat0), g.Sum(r => r.Lat1), g.Sum(r => r.Lat2), g.Sum(r => r.Lat3), g.Sum(r => r.Lat4),
        g.Sum(r => r.Lat5), g.Sum(r => r.Lat6), g.Sum(r => r.Lat7), g.Sum(r => r.Lat8), g.Sum(r => r.Lat9),
    ];

    private static IEnumerable<long> Ttft(IEnumerable<UsageRollup> g) =>
    [
        g.Sum(r => r.Ttft0), g.Sum(r => r.Ttft1), g.Sum(r => r.Ttft2), g.Sum(r => r.Ttft3), g.Sum(r => r.Ttft4),
        g.Sum(r => r.Ttft5), g.Sum(r => r.Ttft6), g.Sum(r => r.Ttft7), g.Sum(r => r.Ttft8), g.Sum(r => r.Ttft9),
    ];
}
