using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The rollup's statements, written once for both databases (docs/decisions/0014-rollup-deltas-behind-a-write-barrier.md).
/// They differ only in truncating a timestamp to its hour or day, in temporary-table syntax and in how a watermark is
/// passed, which each mode's subclass supplies (<see cref="SqliteRollupSql"/>, <see cref="PostgresRollupSql"/>).
/// </summary>
internal abstract class RollupSql : IRollupSql
{
    /// <summary>The summed columns of <c>usage_rollups</c>, in the order the delta table holds them.</summary>
    public static readonly IReadOnlyList<string> Measures =
    [
        "calls", "errors", "rejections", "cancellations", "fallbacks", "cache_hits",
        "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
        "cost_micros", "saved_cost_micros", "unknown_cost_calls", "latency_ms_sum", "ttft_count", "ttft_ms_sum",
        .. Enumerable.Range(0, Data.Rollups.LatencyHistogram.BucketCount).Select(i => $"lat{i}"),
        .. Enumerable.Range(0, Data.Rollups.LatencyHistogram.BucketCount).Select(i => $"ttft{i}"),
    ];

    private static readonly string[] UserMeasures = ["calls", "errors", "input_tokens", "output_tokens", "cost_micros"];

    private const string Keys = "tenant_id, grain, bucket_start_utc, feature, alias, provider, model, billed_to";

    private const string UserKeys = "tenant_id, day_utc, user_id, end_user, feature, model, billed_to";

    /// <summary>The highest ingest time.</summary>
    protected const string MaxIngested = """SELECT max(ingested_utc) AS "Value" FROM llm_calls""";

    /// <summary>The bucket expression of the hour a timestamp column falls in.</summary>
    protected abstract string Hour(string column);

    /// <summary>The bucket expression of the day a timestamp column falls in.</summary>
    protected abstract string Day(string column);

    /// <summary>What follows <c>CREATE TEMP TABLE rollup_delta</c> so that the table ends with the transaction, if anything.</summary>
    protected abstract string TemporaryTableOptions { get; }

    public abstract object Parameter(DateTime utc);

    public abstract Task BeginSessionAsync(DatabaseFacade database, CancellationToken ct);

    public abstract Task EndSessionAsync(DatabaseFacade database);

    public abstract Task<DateTime?> MaxIngestedBeforeTransactionAsync(DatabaseFacade database, CancellationToken ct);

    public abstract Task<DateTime?> MaxIngestedInTransactionAsync(DatabaseFacade database, DateTime? readBefore, CancellationToken ct);

    /// <summary>Reads <see cref="MaxIngested"/>.</summary>
    protected static async Task<DateTime?> ReadMaxIngestedAsync(DatabaseFacade database, CancellationToken ct) =>
        await database.SqlQueryRaw<DateTime?>(MaxIngested).SingleAsync(ct);

    public string DropDelta => "DROP TABLE IF EXISTS rollup_delta;";

    /// <summary>Hour sums of the calls ingested in ({0}, {1}] into a temporary table (one pass over the new calls only).</summary>
    public string CreateDelta => $$"""
        CREATE TEMP TABLE rollup_delta {{TemporaryTableOptions}} AS
        SELECT tenant_id, {{Hour("created_utc")}} AS bucket_start_utc, feature, alias,
            COALESCE(provider, '') AS provider, COALESCE(model, '') AS model, billed_to,
            COUNT(*) AS calls,
            SUM(CASE WHEN status IN ('Error', 'Incomplete') THEN 1 ELSE 0 END) AS errors,
            SUM(CASE WHEN status = 'Rejected' THEN 1 ELSE 0 END) AS rejections,
            SUM(CASE WHEN status = 'Cancelled' THEN 1 ELSE 0 END) AS cancellations,
            SUM(CASE WHEN fell_back THEN 1 ELSE 0 END) AS fallbacks,
            SUM(CASE WHEN cache_status <> 'None' THEN 1 ELSE 0 END) AS cache_hits,
            SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cached_input_tokens) AS cached_input_tokens,
            SUM(cache_write_tokens + cache_write1h_tokens) AS cache_write_tokens, SUM(reasoning_tokens) AS reasoning_tokens,
            SUM(cost_micros) AS cost_micros, SUM(saved_cost_micros) AS saved_cost_micros,
            SUM(CASE WHEN cost_status = 'Unknown' THEN 1 ELSE 0 END) AS unknown_cost_calls,
            SUM(latency_ms) AS latency_ms_sum,
            SUM(CASE WHEN ttft_ms IS NULL THEN 0 ELSE 1 END) AS ttft_count,
            COALESCE(SUM(ttft_ms), 0) AS ttft_ms_sum,
            {{HistogramSums("latency_ms", "lat")}},
            {{HistogramSums("ttft_ms", "ttft")}}
        FROM llm_calls
        WHERE ingested_utc > {0} AND ingested_utc <= {1}
        GROUP BY tenant_id, {{Hour("created_utc")}}, feature, alias, COALESCE(provider, ''), COALESCE(model, ''), billed_to;
        """;

    /// <summary>Calls, hour buckets and day buckets in the delta.</summary>
    public string DeltaStats => $$"""
        SELECT CAST(COALESCE(SUM(calls), 0) AS bigint) AS calls, CAST(COUNT(DISTINCT bucket_start_utc) AS bigint) AS hours,
            CAST(COUNT(DISTINCT {{Day("bucket_start_utc")}}) AS bigint) AS days
        FROM rollup_delta
        """;

    /// <summary>Adds the delta to the hour rows, creating the missing ones.</summary>
    public string MergeHours => $$"""
        INSERT INTO usage_rollups ({{Keys}}, {{string.Join(", ", Measures)}})
        SELECT tenant_id, 'Hour', bucket_start_utc, feature, alias, provider, model, billed_to, {{string.Join(", ", Measures)}}
        FROM rollup_delta WHERE true
        ORDER BY tenant_id, bucket_start_utc, feature, alias, provider, model, billed_to
        {{Upsert("usage_rollups", Keys, Measures)}};
        """;

    /// <summary>Adds the delta, summed by day, to the day rows, creating the missing ones.</summary>
    public string MergeDays => $$"""
        INSERT INTO usage_rollups ({{Keys}}, {{string.Join(", ", Measures)}})
        SELECT tenant_id, 'Day', {{Day("bucket_start_utc")}}, feature, alias, provider, model, billed_to,
            {{string.Join(", ", Measures.Select(m => $"SUM({m})"))}}
        FROM rollup_delta WHERE true
        GROUP BY tenant_id, {{Day("bucket_start_utc")}}, feature, alias, provider, model, billed_to
        {{Upsert("usage_rollups", Keys, Measures)}};
        """;

    /// <summary>Adds the per-user day sums of the calls ingested in ({0}, {1}] to the user day rows.</summary>
    public string MergeUserDays => $$"""
        INSERT INTO usage_user_daily ({{UserKeys}}, {{string.Join(", ", UserMeasures)}})
        SELECT tenant_id, {{Day("created_utc")}}, COALESCE(user_id, ''), COALESCE(end_user, ''), feature, COALESCE(model, ''), billed_to,
            COUNT(*), SUM(CASE WHEN status IN ('Error', 'Incomplete') THEN 1 ELSE 0 END),
            SUM(input_tokens), SUM(output_tokens), SUM(cost_micros)
        FROM llm_calls
        WHERE ingested_utc > {0} AND ingested_utc <= {1}
        GROUP BY tenant_id, {{Day("created_utc")}}, COALESCE(user_id, ''), COALESCE(end_user, ''), feature, COALESCE(model, ''), billed_to
        {{Upsert("usage_user_daily", UserKeys, UserMeasures)}};
        """;

    // The conflict target is the table's unique index (RollupConfiguration): adding makes the merge exact
    // because each call is in exactly one delta.
    private static string Upsert(string table, string keys, IEnumerable<string> measures) =>
        $"ON CONFLICT ({keys}) DO UPDATE SET {string.Join(", ", measures.Select(m => $"{m} = {table}.{m} + excluded.{m}"))}";

    // Bucket i: lower bound (previous upper bound) inclusive, upper bound exclusive; NULL (no TTFT) counts nowhere.
    private static string HistogramSums(string column, string prefix)
    {
        var bounds = Data.Rollups.LatencyHistogram.UpperBoundsMs;
        var parts = new List<string>();
        for (var i = 0; i < Data.Rollups.LatencyHistogram.BucketCount; i++)
        {
            var lower = i == 0 ? null : $"{column} >= {bounds[i - 1]}";
            var upper = i < bounds.Count ? $"{column} < {bounds[i]}" : null;
            var condition = string.Join(" AND ", new[] { $"{column} IS NOT NULL", lower, upper }.Where(c => c is not null));
            parts.Add($"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS {prefix}{i}");
        }

        return string.Join(",\n            ", parts);
    }
}
