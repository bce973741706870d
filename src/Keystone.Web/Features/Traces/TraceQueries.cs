using System.Globalization;
using System.Linq.Expressions;
using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// Trace search: every filter of issue 7, full-text over the redacted text, keyset pagination. Runs in the
/// caller's tenant scope (tenant roles: their tenant; platform roles: all tenants, or the one switched to).
/// </summary>
internal sealed class TraceQueries(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    /// <summary>Largest page a caller may ask for.</summary>
    public const int MaxPageSize = 200;

    public async Task<TracePage> SearchAsync(TraceFilter filter, string? cursor, int pageSize, CancellationToken ct)
    {
        pageSize = Math.Clamp(pageSize, 1, MaxPageSize);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var after = TraceCursor.Parse(cursor, filter.Sort);
        var words = FullTextQuery.Words(filter.Text);
        var rows = words.Count > 0 && filter.Sort == TraceSort.Time && db.FullTextReadsNewestFirst
            ? await NewestMatchesFirstAsync(db, filter, words, after, pageSize + 1, ct)
            : await PageQuery(db, filter, after, pageSize + 1).ToListAsync(ct);
        string? next = null;
        if (rows.Count > pageSize)
        {
            rows.RemoveAt(rows.Count - 1);
            next = TraceCursor.After(rows[^1], filter.Sort);
        }

        return new TracePage(rows, next);
    }

    /// <summary>One page of a filter in its sort order, after the cursor (the whole query, for EXPLAIN too).</summary>
    internal static IQueryable<TraceRow> PageQuery(KeystoneDbContext db, TraceFilter filter, TraceCursor? after, int take,
        IQueryable<Guid>? matching = null)
    {
        var q = Filter(db, filter, matching);
        if (db.CallsTieBreakByRowKey)
        {
            return ToRows(db, OrderedByRowKey(db, q, filter.Sort, after).Take(take), withRowKey: true);
        }

        q = filter.Sort switch
        {
            TraceSort.Cost => after is null ? q : q.Where(c => c.CostMicros < after.Value || (c.CostMicros == after.Value && c.Id.CompareTo(after.Id) < 0)),
            TraceSort.Latency => after is null ? q : q.Where(c => c.LatencyMs < after.Value || (c.LatencyMs == after.Value && c.Id.CompareTo(after.Id) < 0)),
            _ => after is null ? q : q.Where(c => c.CreatedUtc < after.Time || (c.CreatedUtc == after.Time && c.Id.CompareTo(after.Id) < 0)),
        };
        var ordered = filter.Sort switch
        {
            TraceSort.Cost => q.OrderByDescending(c => c.CostMicros).ThenByDescending(c => c.Id),
            TraceSort.Latency => q.OrderByDescending(c => c.LatencyMs).ThenByDescending(c => c.Id),
            _ => q.OrderByDescending(c => c.CreatedUtc).ThenByDescending(c => c.Id),
        };
        return ToRows(db, ordered.Take(take));
    }

    /// <summary>
    /// SQLite: the keyset order with the rowid as the tie-breaker (<see cref="CallRowKey"/>), which every index entry ends
    /// with, so (tenant_id, cost_micros) or (tenant_id, created_utc) serves the whole order (issue 26, decision 63).
    /// </summary>
    private static IOrderedQueryable<LlmCall> OrderedByRowKey(KeystoneDbContext db, IQueryable<LlmCall> q, TraceSort sort, TraceCursor? after)
    {
        if (after?.RowKey is { } key)
        {
            q = sort switch
            {
                TraceSort.Cost => q.Where(c => c.CostMicros < after.Value || (c.CostMicros == after.Value && CallRowKey.Of(c.Id) < key)),
                TraceSort.Latency => q.Where(c => c.LatencyMs < after.Value || (c.LatencyMs == after.Value && CallRowKey.Of(c.Id) < key)),
                _ => q.Where(c => c.CreatedUtc < after.Time || (c.CreatedUtc == after.Time && CallRowKey.Of(c.Id) < key)),
            };
        }
        else if (after is not null)
        {
            // A cursor issued before the tie-breaker became the rowid names the call: continue after that call's row.
            var id = after.Id;
            var keyOf = db.Calls.Where(x => x.Id == id).Select(x => CallRowKey.Of(x.Id));
            q = sort switch
            {
                TraceSort.Cost => q.Where(c => c.CostMicros < after.Value || (c.CostMicros == after.Value && CallRowKey.Of(c.Id) < keyOf.FirstOrDefault())),
                TraceSort.Latency => q.Where(c => c.LatencyMs < after.Value || (c.LatencyMs == after.Value && CallRowKey.Of(c.Id) < keyOf.FirstOrDefault())),
                _ => q.Where(c => c.CreatedUtc < after.Time || (c.CreatedUtc == after.Time && CallRowKey.Of(c.Id) < keyOf.FirstOrDefault())),
            };
        }

        return sort switch
        {
            TraceSort.Cost => q.OrderByDescending(c => c.CostMicros).ThenByDescending(c => CallRowKey.Of(c.Id)),
            TraceSort.Latency => q.OrderByDescending(c => c.LatencyMs).ThenByDescending(c => CallRowKey.Of(c.Id)),
            _ => q.OrderByDescending(c => c.CreatedUtc).ThenByDescending(c => CallRowKey.Of(c.Id)),
        };
    }

    /// <summary>Matches per row wanted in the first window; later windows are sized from the share of matches the other filters kept.</summary>
    private const int FirstWindowFactor = 4;

    /// <summary>
    /// The first window's guess of how many matches one row of the page costs: the tenant and the feature are
    /// part of the index's matches, but each other narrowing (a user, a model, a status, …) keeps only part of
    /// them. A bigger first window is cheaper than an extra one.
    /// </summary>
    private static int FirstWindowMatchesPerRow(TraceFilter f)
        => f with { Text = null, Feature = null, FromUtc = null, ToUtc = null, Sort = TraceSort.Time } == TraceFilter.Empty
            ? FirstWindowFactor
            : FirstWindowFactor * 8;

    /// <summary>
    /// Full text, newest first, read window by window back in time: each window holds about as many matches as
    /// the page still needs (scaled by how many of them the other filters kept so far), so a common word costs
    /// a few thousand index entries instead of every match. Windows split time at millisecond boundaries and
    /// are read newest first, each in the page's order, so their concatenation is the page a single query over
    /// all matches would return (same order, same keyset cursor).
    /// </summary>
    private static async Task<List<TraceRow>> NewestMatchesFirstAsync(KeystoneDbContext db, TraceFilter filter, IReadOnlyList<string> words,
        TraceCursor? after, int take, CancellationToken ct)
    {
        var rows = new List<TraceRow>(take);
        // Exclusive upper bound of the next window: the cursor's time is still allowed (ties are broken by id).
        DateTime? before = after is null || after.Time == DateTime.MaxValue ? filter.ToUtc : Min(filter.ToUtc, after.Time.AddTicks(1));
        var matches = take * FirstWindowMatchesPerRow(filter);
        var (tenant, feature) = (ScopedTenant(db), FeatureOf(filter));
        while (rows.Count < take)
        {
            var newest = await db.NewestMatchesAsync(words, tenant, feature, before, matches, ct);
            var start = newest.StartUtc;
            var last = start is null || (filter.FromUtc is { } from && start <= from);
            var window = filter with
            {
                FromUtc = last ? filter.FromUtc : DateTime.SpecifyKind(start!.Value, DateTimeKind.Utc),
                ToUtc = before,
            };
            // When every remaining match was listed, the window reads them by key instead of matching the words again.
            var listed = start is null ? newest.Keys : null;
            var found = listed is { Count: 0 }
                ? []
                : await PageQuery(db, window, after, take - rows.Count, listed is null ? null : db.TraceIdsWithKeys(listed)).ToListAsync(ct);
            rows.AddRange(found);
            if (last)
            {
                break;
            }

            before = window.FromUtc;
            // The other filters kept found/matches of the window's matches; ask for enough to fill the page
            // at that rate (with a margin), growing at least 2x and at most 16x per window.
            var wanted = found.Count == 0 ? (long)matches * 16 : (long)Math.Ceiling((take - rows.Count) * 1.5 * matches / found.Count);
            const long cap = int.MaxValue / 2;
            matches = (int)Math.Clamp(wanted, Math.Min(matches * 2L, cap), Math.Min(matches * 16L, cap));
        }

        return rows;
    }

    private static DateTime? Min(DateTime? a, DateTime b) => a is { } x && x < b ? x : b;

    /// <summary>The calls a filter selects, before ordering (also used for the end user's neighbouring calls).</summary>
    internal static IQueryable<LlmCall> Filter(KeystoneDbContext db, TraceFilter f, IQueryable<Guid>? matching = null)
    {
        var q = db.Calls.AsNoTracking();
        if (ScopedTenant(db) is { } scoped)
        {
            // Redundant with the tenant query filter, which reads "@all OR tenant_id = @tenant": SQLite cannot use
            // that as an index equality, so every (tenant_id, …) index would go unused for a tenant's search.
            q = q.Where(c => c.TenantId == scoped);
        }

        if (!string.IsNullOrWhiteSpace(f.User))
        {
            var user = f.User.Trim();
            // A console user may be named by e-mail; the tenant's end users are whatever the caller sent.
            var normalized = user.ToUpperInvariant();
            var consoleIds = db.Users.Where(u => u.NormalizedEmail == normalized).Select(u => u.Id);
            q = q.Where(c => c.EndUser == user || c.UserId == user || consoleIds.Contains(c.UserId!));
        }

        if (!string.IsNullOrWhiteSpace(f.Feature))
        {
            var feature = f.Feature.Trim();
            q = q.Where(c => c.Feature == feature);
        }

        if (!string.IsNullOrWhiteSpace(f.Model))
        {
            var model = f.Model.Trim();
            var slash = model.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0)
            {
                var (provider, name) = (model[..slash], model[(slash + 1)..]);
                q = q.Where(c => c.Alias == model || (c.Provider == provider && c.Model == name));
            }
            else
            {
                q = q.Where(c => c.Alias == model || c.Model == model || c.Provider == model);
            }
        }

        q = f.Status switch
        {
            TraceStatusFilter.Ok => q.Where(c => c.Status == CallStatus.Ok),
            TraceStatusFilter.Error => q.Where(c => c.Status == CallStatus.Error),
            TraceStatusFilter.Cancelled => q.Where(c => c.Status == CallStatus.Cancelled),
            TraceStatusFilter.Incomplete => q.Where(c => c.Status == CallStatus.Incomplete),
            TraceStatusFilter.Rejected => q.Where(c => c.Status == CallStatus.Rejected),
            TraceStatusFilter.Fallback => q.Where(c => c.FellBack),
            TraceStatusFilter.Cached => q.Where(c => c.CacheStatus != CacheStatus.None),
            _ => q,
        };

        if (!string.IsNullOrWhiteSpace(f.PromptName))
        {
            var prompt = f.PromptName.Trim();
            q = q.Where(c => c.PromptName == prompt);
        }

        if (f.PromptVersionId is { } version)
        {
            q = q.Where(c => c.PromptVersionId == version);
        }

        if (f.MinCostMicros is { } minCost)
        {
            q = q.Where(c => c.CostMicros >= minCost);
        }

        if (f.MaxCostMicros is { } maxCost)
        {
            q = q.Where(c => c.CostMicros <= maxCost);
        }

        if (f.MinLatencyMs is { } minMs)
        {
            q = q.Where(c => c.LatencyMs >= minMs);
        }

        if (f.MaxLatencyMs is { } maxMs)
        {
            q = q.Where(c => c.LatencyMs <= maxMs);
        }

        if (f.FromUtc is { } from)
        {
            q = q.Where(c => c.CreatedUtc >= from);
        }

        if (f.ToUtc is { } to)
        {
            q = q.Where(c => c.CreatedUtc < to);
        }

        if (f.TraceId is { } traceId)
        {
            q = q.Where(c => c.TraceId == traceId || c.Id == traceId);
        }

        var words = FullTextQuery.Words(f.Text);
        if (words.Count > 0)
        {
            // The caller may already know the matching calls (the full-text index's listed keys).
            matching ??= db.TraceIdsMatching(words, f.FromUtc, f.ToUtc, ScopedTenant(db), FeatureOf(f));
            q = q.Where(c => matching.Contains(c.Id));
        }

        return q;
    }

    /// <summary>The one tenant a search runs in, or null across tenants.</summary>
    private static Guid? ScopedTenant(KeystoneDbContext db) => db.Scope.AllTenants ? null : db.Scope.TenantId;

    private static string? FeatureOf(TraceFilter f) => string.IsNullOrWhiteSpace(f.Feature) ? null : f.Feature.Trim();

    internal static IQueryable<TraceRow> ToRows(KeystoneDbContext db, IQueryable<LlmCall> q, bool withRowKey = false)
    {
        Expression<Func<LlmCall, TraceRow>> row = c => new TraceRow(
            c.Id, c.TraceId, c.TenantId, db.Tenants.Where(t => t.Id == c.TenantId).Select(t => t.Name).FirstOrDefault(),
            c.CreatedUtc, c.UserId, c.EndUser, c.Feature, c.Alias, c.Provider, c.Model, c.PromptName, c.Status, c.ErrorCode,
            c.FellBack, c.CacheStatus, c.InputTokens, c.OutputTokens, c.CostMicros, c.CostStatus, c.BilledTo, c.LatencyMs,
            c.ReplayOfCallId, db.Users.Where(u => u.Id == c.UserId).Select(u => u.DisplayName != "" ? u.DisplayName : u.Email).FirstOrDefault());
        if (!withRowKey)
        {
            return q.Select(row);
        }

        // The same projection plus the row's key (SQLite's tie-breaker, for the next page's cursor).
        var call = row.Parameters[0];
        var keyed = Expression.MemberInit((NewExpression)row.Body, Expression.Bind(typeof(TraceRow).GetProperty(nameof(TraceRow.RowKey))!,
            Expression.Call(typeof(CallRowKey).GetMethod(nameof(CallRowKey.Of))!, Expression.Property(call, nameof(LlmCall.Id)))));
        return q.Select(Expression.Lambda<Func<LlmCall, TraceRow>>(keyed, call));
    }
}

/// <summary>
/// Where the previous page ended: the sort value and the tie-breaker, the call id (PostgreSQL) or the call row's rowid
/// (<see cref="TraceRow.RowKey"/>, SQLite; written <c>value_r{rowid}</c>). A cursor naming the call id still works on SQLite
/// (issued before the change, decision 63): the search continues after that call's row.
/// </summary>
internal sealed record TraceCursor(long Value, DateTime Time, Guid Id, long? RowKey = null)
{
    public static string After(TraceRow row, TraceSort sort)
    {
        var value = sort switch
        {
            TraceSort.Cost => row.CostMicros,
            TraceSort.Latency => row.LatencyMs,
            _ => row.CreatedUtc.Ticks,
        };
        var tie = row.RowKey > 0 ? "r" + row.RowKey.ToString(CultureInfo.InvariantCulture) : row.CallId.ToString("N");
        return value.ToString(CultureInfo.InvariantCulture) + "_" + tie;
    }

    /// <summary>Null for no cursor or one that does not parse (a tampered link starts from the top, never fails).</summary>
    public static TraceCursor? Parse(string? cursor, TraceSort sort)
    {
        if (string.IsNullOrWhiteSpace(cursor))
        {
            return null;
        }

        var parts = cursor.Split('_');
        if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return null;
        }

        var time = sort == TraceSort.Time && value >= DateTime.MinValue.Ticks && value <= DateTime.MaxValue.Ticks
            ? new DateTime(value, DateTimeKind.Utc)
            : DateTime.MinValue;
        if (parts[1].StartsWith('r'))
        {
            return long.TryParse(parts[1].AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var key) && key > 0
                ? new TraceCursor(value, time, Guid.Empty, key)
                : null;
        }

        return Guid.TryParse(parts[1], out var id) ? new TraceCursor(value, time, id) : null;
    }
}
