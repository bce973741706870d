using Keystone.Data;

namespace Keystone.Web.Features.Dashboard;

/// <summary>
/// The rollup's SQL for one provider. Both databases run the same statements except for truncating a
/// timestamp to its hour or day: SQLite keeps <c>DateTime</c> as sortable text (<c>yyyy-MM-dd HH:mm:ss.fffffff</c>),
/// so a prefix is the bucket; PostgreSQL truncates in UTC explicitly (a bare <c>date_trunc</c> on
/// <c>timestamptz</c> would use the session's time zone).
/// </summary>
internal sealed class RollupSql(DatabaseProvider provider)
{

    public string Hour(string column) => provider == DatabaseProvider.Postgres
        ? $"date_trunc('hour', {column}, 'UTC')"
        : $"(substr({column}, 1, 13) || ':00:00')";

    public string Day(string column) => provider == DatabaseProvider.Postgres
        ? $"date_trunc('day', {column}, 'UTC')"
        : $"(substr({column}, 1, 10) || ' 00:00:00')";

    /// <summary>Distinct hour buckets of calls ingested after {0}.</summary>
    public string TouchedHours => $$"""
        SELECT DISTINCT {{Hour("created_utc")}} AS "Value" FROM llm_calls WHERE ingested_utc > {0}
        """;

    /// <summary>Hour rows of [{0}, {1}) recomputed from raw calls.</summary>
    public string ReplaceHours => $$"""
        DELETE FROM usage_rollups WHERE grain = 'Hour' AND bucket_start_utc >= {0} AND bucket_start_utc < {1};
        INSERT INTO usage_rollups (tenant_id, grain, bucket_start_utc, feature, alias, provider, model, billed_to,
            calls, errors, rejections, cancellations, fallbacks, cache_hits,
            input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
            cost_micros, saved_cost_micros, unknown_cost_calls, latency_ms_sum, ttft_count, ttft_ms_sum,
            {{Columns("lat")}}, {{Columns("ttft")}})
        SELECT tenant_id, 'Hour', {{Hour("created_utc")}}, feature, alias, COALESCE(provider, ''), COALESCE(model, ''), billed_to,
            COUNT(*),
            SUM(CASE WHEN status IN ('Error', 'Incomplete') THEN 1 ELSE 0 END),
            SUM(CASE WHEN status = 'Rejected' THEN 1 ELSE 0 END),
            SUM(CASE WHEN status = 'Cancelled' THEN 1 ELSE 0 END),
            SUM(CASE WHEN fell_back THEN 1 ELSE 0 END),
            SUM(CASE WHEN cache_status <> 'None' THEN 1 ELSE 0 END),
            SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens),
            SUM(cache_write_tokens + cache_write1h_tokens), SUM(reasoning_tokens),
            SUM(cost_micros), SUM(saved_cost_micros),
            SUM(CASE WHEN cost_status = 'Unknown' THEN 1 ELSE 0 END),
            SUM(latency_ms),
            SUM(CASE WHEN ttft_ms IS NULL THEN 0 ELSE 1 END),
            COALESCE(SUM(ttft_ms), 0),
            {{HistogramSums("latency_ms")}},
            {{HistogramSums("ttft_ms")}}
        FROM llm_calls
        WHERE created_utc >= {0} AND created_utc < {1}
        GROUP BY tenant_id, {{Hour("created_utc")}}, feature, alias, COALESCE(provider, ''), COALESCE(model, ''), billed_to;
        """;

    /// <summary>Day rows of [{0}, {1}) recomputed from the hour rows.</summary>
    public string ReplaceDays => $$"""
        DELETE FROM usage_rollups WHERE grain = 'Day' AND bucket_start_utc >= {0} AND bucket_start_utc < {1};
        INSERT INTO usage_rollups (tenant_id, grain, bucket_start_utc, feature, alias, provider, model, billed_to,
            calls, errors, rejections, cancellations, fallbacks, cache_hits,
            input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens,
            cost_micros, saved_cost_micros, unknown_cost_calls, latency_ms_sum, ttft_count, ttft_ms_sum,
            {{Columns("lat")}}, {{Columns("ttft")}})
        SELECT tenant_id, 'Day', {{Day("bucket_start_utc")}}, feature, alias, provider, model, billed_to,
            SUM(calls), SUM(errors), SUM(rejections), SUM(cancellations), SUM(fallbacks), SUM(cache_hits),
            SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens),
            SUM(cost_micros), SUM(saved_cost_micros), SUM(unknown_cost_calls), SUM(latency_ms_sum), SUM(ttft_count), SUM(ttft_ms_sum),
            {{Sums("lat")}}, {{Sums("ttft")}}
        FROM usage_rollups
        WHERE grain = 'Hour' AND bucket_start_utc >= {0} AND bucket_start_utc < {1}
        GROUP BY tenant_id, {{Day("bucket_start_utc")}}, feature, alias, provider, model, billed_to;
        """;

    /// <summary>Per-user day rows of [{0}, {1}) recomputed from raw calls.</summary>
    public string ReplaceUserDays => $$"""
        DELETE FROM usage_user_daily WHERE day_utc >= {0} AND day_utc < {1};
        INSERT INTO usage_user_daily (tenant_id, day_utc, user_id, end_user, feature, model,
            calls, errors, input_tokens, output_tokens, cost_micros)
        SELECT tenant_id, {{Day("created_utc")}}, COALESCE(user_id, ''), COALESCE(end_user, ''), feature, COALESCE(model, ''),
            COUNT(*), SUM(CASE WHEN status IN ('Error', 'Incomplete') THEN 1 ELSE 0 END),
            SUM(input_tokens), SUM(output_tokens), SUM(cost_micros)
        FROM llm_calls
        WHERE created_utc >= {0} AND created_utc < {1}
        GROUP BY tenant_id, {{Day("created_utc")}}, COALESCE(user_id, ''), COALESCE(end_user, ''), feature, COALESCE(model, '');
        """;

    private static string Columns(string prefix) =>
        string.Join(", ", Enumerable.Range(0, Data.Rollups.LatencyHistogram.BucketCount).Select(i => $"{prefix}{i}"));

    private static string Sums(string prefix) =>
        string.Join(", ", Enumerable.Range(0, Data.Rollups.LatencyHistogram.BucketCount).Select(i => $"SUM({prefix}{i})"));

    // Bucket i: lower bound (previous upper bound) inclusive, upper bound exclusive; NULL (no TTFT) counts nowhere.
    private static string HistogramSums(string column)
    {
        var bounds = Data.Rollups.LatencyHistogram.UpperBoundsMs;
        var parts = new List<string>();
        for (var i = 0; i < Data.Rollups.LatencyHistogram.BucketCount; i++)
        {
            var lower = i == 0 ? null : $"{column} >= {bounds[i - 1]}";
            var upper = i < bounds.Count ? $"{column} < {bounds[i]}" : null;
            var condition = string.Join(" AND ", new[] { $"{column} IS NOT NULL", lower, upper }.Where(c => c is not null));
            parts.Add($"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)");
        }

        return string.Join(",\n            ", parts);
    }
}
