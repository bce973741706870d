using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>
/// The semantic cache's lookup on SQLite, which has no vector type: every live entry of the tenant's context is compared
/// in process (<see cref="SemanticCache.Cosine"/>, SIMD) and the closest one wins. No cap on how many are compared: an
/// older entry that is the better match is found (the cache used to compare only the newest 256).
/// </summary>
/// <remarks>
/// Reading 10,000 embeddings out of SQLite for every lookup took about 13 ms on a quiet core, so each context's vectors
/// are kept in memory as one flat array, loaded from the table on the context's first lookup and brought up to date at
/// every lookup with the rows added since (<c>id &gt; last seen</c>, an index seek on <c>(tenant_id, context_key, id)</c>;
/// SQLite has one writer at a time, so ids become visible in order and none is skipped). The table stays the truth:
/// rows written by another process are picked up the same way, expired entries are skipped and dropped, and the
/// winner's answer is read from the table by its id and tenant, so an entry deleted meanwhile (the expiry job) is a
/// miss, never a stale answer. Contexts whose entries have all expired are dropped from memory once a minute. The
/// context key names the embedding model, so a vector of another length is from before a model change: never loaded.
/// </remarks>
internal sealed class SqliteSemanticCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
    : SemanticCache(dbFactory, options, clock)
{
    private const string NewRowsSql = """
        SELECT id, expires_utc, embedding FROM semantic_cache_entries
        WHERE tenant_id = $tenant AND context_key = $context AND id > $after AND expires_utc > $now
        ORDER BY id
        """;

    private static readonly TimeSpan SweepEvery = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<(Guid Tenant, string Context), ContextVectors> _contexts = new();
    private long _lastSweepTicks;

    protected override async Task<Candidate?> FindClosestAsync(Guid tenantId, string contextKey, string embeddingModel, float[] vector, DateTime now,
        CancellationToken ct)
    {
        Sweep(now);
        await using var db = DbFactory.ForTenant(tenantId);
        var vectors = _contexts.GetOrAdd((tenantId, contextKey), _ => new ContextVectors());
        var snapshot = await vectors.RefreshAsync(db, tenantId, contextKey, vector.Length, now, ct);
        var (bestId, bestSimilarity) = snapshot.Closest(vector, now);
        if (bestId is not { } id)
        {
            return null;
        }

        var row = await db.SemanticCache.AsNoTracking()
            .Where(e => e.Id == id && e.TenantId == tenantId)
            .Select(e => new { e.ResponseJson, e.CostMicros, e.SourceCallId, e.Provider, e.Model })
            .FirstOrDefaultAsync(ct);
        // Gone since it was loaded (the expiry job): a miss.
        return row is null ? null : new Candidate(row.ResponseJson, row.CostMicros, row.SourceCallId, row.Provider, row.Model, bestSimilarity);
    }

    /// <summary>Drops contexts whose every entry has expired (at most once a minute).</summary>
    private void Sweep(DateTime now)
    {
        var last = Interlocked.Read(ref _lastSweepTicks);
        if (now.Ticks - last < SweepEvery.Ticks || Interlocked.CompareExchange(ref _lastSweepTicks, now.Ticks, last) != last)
        {
            return;
        }

        foreach (var (key, vectors) in _contexts)
        {
            if (vectors.Current.LatestExpiryUtc <= now)
            {
                // A lookup holding this object meanwhile still answers correctly; the next one loads the context anew.
                _contexts.TryRemove(new KeyValuePair<(Guid, string), ContextVectors>(key, vectors));
            }
        }
    }

    /// <summary>One context's vectors in memory: an immutable snapshot readers scan without a lock, replaced by refreshes.</summary>
    // CA1001: a SemaphoreSlim holds nothing to release unless its AvailableWaitHandle is used (it is not); a dropped context
    // may still be awaited by a lookup, which disposing it would break.
#pragma warning disable CA1001
    private sealed class ContextVectors
#pragma warning restore CA1001
    {
        private readonly SemaphoreSlim _refresh = new(1, 1);

        public Snapshot Current { get; private set; } = Snapshot.Empty;

        /// <summary>Adds the rows stored since the last refresh (all of them the first time); compacts when half are expired.</summary>
        public async Task<Snapshot> RefreshAsync(KeystoneDbContext db, Guid tenantId, string contextKey, int dimensions, DateTime now, CancellationToken ct)
        {
            await _refresh.WaitAsync(ct);
            try
            {
                var current = Current.Dimensions == dimensions ? Current : Snapshot.Empty;
                var bytes = dimensions * sizeof(float);
                var ids = new List<long>();
                var expires = new List<DateTime>();
                var added = new List<float>();
                await db.Database.OpenConnectionAsync(ct);
                try
                {
                    await using var command = (SqliteCommand)db.Database.GetDbConnection().CreateCommand();
                    command.CommandText = NewRowsSql;
                    // Typed as text, Microsoft.Data.Sqlite binds a Guid as upper-case "D" and a DateTime in EF's text
                    // format: the forms EF stored them in.
                    command.Parameters.Add("$tenant", SqliteType.Text).Value = tenantId;
                    command.Parameters.Add("$context", SqliteType.Text).Value = contextKey;
                    command.Parameters.Add("$after", SqliteType.Integer).Value = current.LastId;
                    command.Parameters.Add("$now", SqliteType.Text).Value = now;
                    await using var reader = await command.ExecuteReaderAsync(ct);
                    var buffer = new byte[bytes];
                    while (await reader.ReadAsync(ct))
                    {
                        if (reader.GetBytes(2, 0, null, 0, 0) != bytes)
                        {
                            continue;
                        }

                        reader.GetBytes(2, 0, buffer, 0, bytes);
                        ids.Add(reader.GetInt64(0));
                        expires.Add(reader.GetDateTime(1));
                        added.AddRange(MemoryMarshal.Cast<byte, float>(buffer.AsSpan()));
                    }
                }
                finally
                {
                    await db.Database.CloseConnectionAsync();
                }

                Current = current.With(dimensions, CollectionsMarshal.AsSpan(ids), CollectionsMarshal.AsSpan(expires), CollectionsMarshal.AsSpan(added), now);
                return Current;
            }
            finally
            {
                _refresh.Release();
            }
        }
    }

    /// <summary>
    /// Vectors of one context, flat (<see cref="Count"/> × <see cref="Dimensions"/>), with their row ids and expiry. Appends
    /// write past <see cref="Count"/> into spare capacity and publish a new snapshot sharing the arrays, so a reader of an
    /// older snapshot never sees a half-written row.
    /// </summary>
    private sealed record Snapshot(long[] Ids, DateTime[] Expires, float[] Vectors, int Count, int Dimensions, long LastId, DateTime LatestExpiryUtc)
    {
        public static readonly Snapshot Empty = new([], [], [], 0, 0, 0, DateTime.MinValue);

        public (long? Id, double Similarity) Closest(float[] query, DateTime now)
        {
            long? bestId = null;
            var best = double.NegativeInfinity;
            for (var i = 0; i < Count; i++)
            {
                if (Expires[i] <= now)
                {
                    continue;
                }

                var similarity = Cosine(query, Vectors.AsSpan(i * Dimensions, Dimensions));
                if (similarity > best)
                {
                    (bestId, best) = (Ids[i], similarity);
                }
            }

            return (bestId, best);
        }

        public Snapshot With(int dimensions, ReadOnlySpan<long> ids, ReadOnlySpan<DateTime> expires, ReadOnlySpan<float> vectors, DateTime now)
        {
            var live = 0;
            for (var i = 0; i < Count; i++)
            {
                live += Expires[i] > now ? 1 : 0;
            }

            if (ids.Length == 0 && live * 2 >= Count)
            {
                return this;
            }

            var latest = LatestExpiryUtc;
            foreach (var e in expires)
            {
                latest = e > latest ? e : latest;
            }

            var lastId = ids.Length > 0 ? ids[^1] : LastId;
            var needed = live + ids.Length;
            if (live == Count && Count + ids.Length <= Ids.Length)
            {
                // Room to spare and nothing to drop: append in place; older snapshots read only their first Count rows.
                ids.CopyTo(Ids.AsSpan(Count));
                expires.CopyTo(Expires.AsSpan(Count));
                vectors.CopyTo(Vectors.AsSpan(Count * dimensions));
                return new Snapshot(Ids, Expires, Vectors, needed, dimensions, lastId, latest);
            }

            // Grow (doubling) or compact (half expired): new arrays with the live rows, then the new ones.
            var capacity = Math.Max(16, needed * 2);
            var newIds = new long[capacity];
            var newExpires = new DateTime[capacity];
            var newVectors = new float[capacity * dimensions];
            var n = 0;
            for (var i = 0; i < Count; i++)
            {
                if (Expires[i] > now)
                {
                    newIds[n] = Ids[i];
                    newExpires[n] = Expires[i];
                    Vectors.AsSpan(i * dimensions, dimensions).CopyTo(newVectors.AsSpan(n * dimensions));
                    n++;
                }
            }

            ids.CopyTo(newIds.AsSpan(n));
            expires.CopyTo(newExpires.AsSpan(n));
            vectors.CopyTo(newVectors.AsSpan(n * dimensions));
            return new Snapshot(newIds, newExpires, newVectors, needed, dimensions, lastId, latest);
        }
    }
}
