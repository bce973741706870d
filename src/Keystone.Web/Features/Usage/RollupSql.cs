using Keystone.Data;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The rollup's SQL for one provider (docs/decisions/0014-rollup-deltas-behind-a-write-barrier.md). Both
/// databases run the same statements except for truncating a timestamp to its hour or day, the barrier, and
/// temporary-table syntax: SQLite keeps <c>DateTime</c> as sortable text (<c>yyyy-MM-dd HH:mm:ss.fffffff</c>),
/// so a prefix is the bucket; PostgreSQL truncates in UTC explicitly (a bare <c>date_trunc</c> on
/// <c>timestamptz</c> would use the session's time zone).
/// </summary>
internal sealed class RollupSql(DatabaseProvider provider)
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

    private bool Postgres => provider == DatabaseProvider.Postgres;

    public string Hour(string column) => Postgres
        ? $"date_trunc('hour', {column}, 'UTC')"
        : $"(substr({column}, 1, 13) || ':00:00')";

    public string Day(string column) => Postgres
        ? $"date_trunc('day', {column}, 'UTC')"
        : $"(substr({column}, 1, 10) || ' 00:00:00')";

    /// <summary>
    /// Waits until no transaction is writing calls, so every call with an ingest time up to the maximum read
    /// next is committed and every later one gets a later ingest time. SQLite needs nothing here: the job's
    /// transaction is <c>BEGIN IMMEDIATE</c>, which already holds the single write lock.
    /// </summary>
    public string? Barrier => Postgres ? "SET LOCAL lock_timeout = '30s'; LOCK TABLE llm_calls IN SHARE MODE;" : null;

    /// <summary>The highest ingest time.</summary>
    public const string MaxIngested = """SELECT max(ingested_utc) AS "Value" FROM llm_calls""";

    /// <summary>
    /// A watermark as a parameter. SQLite compares the column as text and the column default writes exactly three
    /// fraction digits, while a <c>DateTime</c> parameter would be written with trailing zeros trimmed.
    /// </summary>
    public object Parameter(DateTime utc) => Postgres
        ? utc
        : utc.ToString("yyyy-MM-dd HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);

    public string DropDelta => "DROP TABLE IF EXISTS rollup_delta;";

    /// <summary>Hour sums of the calls ingested in ({0}, {1}] into a temporary table (one pass over the new calls only).</summary>
    public string CreateDelta => $$"""
        CREATE TEMP TABLE rollup_delta {{(Postgres ? "ON COMMIT DROP" : "")}} AS
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
