using System.Collections.Concurrent;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Data.Vectors;

/// <summary>
/// SQLite, which has no vector type: each tenant's vectors of one semantic-cache context, or of one knowledge model, are
/// held in memory as one contiguous array of normalized float32 rows and scanned whole with SIMD
/// (<see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/> per row, a bounded top-k). No cap on
/// how many rows are compared: the search is exact.
/// </summary>
/// <remarks>
/// <para>Why in memory: reading the blobs out of SQLite for every search costs far more than comparing them (10,000
/// embeddings of 384 dimensions took about 13 ms to read on a quiet core; the scan of them takes well under 1 ms). Each
/// set is loaded from the table on its first search and brought up to date at every search with the rows added since
/// (<c>id</c> / <c>rowid</c> greater than the last seen: an index seek; SQLite has one writer at a time, so ids become
/// visible in order), so rows written by another process are seen too. The table stays the truth:</para>
/// <list type="bullet">
/// <item>Semantic cache: expired rows are skipped and dropped when half the set has expired; the caller reads the
/// winner's answer from the table by id and tenant, so an entry deleted meanwhile is a miss, never a stale answer.</item>
/// <item>Knowledge: rows are deleted when a document is deleted or changed (cascade) and moved when the model changes.
/// Each search compares the tenant's row count of the model with what it holds and reloads the set when they differ;
/// this process's own deletions also drop the tenant's sets at once (<see cref="Changed"/>), which covers the one case a
/// count cannot see (rows deleted and as many added before the next search, reusing the deleted rowids).</item>
/// </list>
/// <para>Memory: 1.5 KB per 384-dimension row (150 MB for 100,000 chunks). Sets unused for ten minutes, and cache
/// contexts whose entries have all expired, are dropped once a minute.</para>
/// </remarks>
internal sealed class SqliteVectorSearch(KeystoneDbFactory dbFactory, TimeProvider clock) : VectorSearch
{
    private const string CacheRowsSql = """
        SELECT id, expires_utc, embedding FROM semantic_cache_entries
        WHERE tenant_id = $tenant AND context_key = $context AND embedding_model = $model AND id > $after AND expires_utc > $now
        ORDER BY id
        """;

    private const string KnowledgeRowsSql = """
        SELECT rowid, chunk_id, document_id, vector FROM knowledge_embeddings
        WHERE tenant_id = $tenant AND model = $model AND rowid > $after
        ORDER BY rowid
        """;

    private const string KnowledgeCountSql = "SELECT count(*) FROM knowledge_embeddings WHERE tenant_id = $tenant AND model = $model";

    private static readonly TimeSpan SweepEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan IdleFor = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<SetKey, VectorSet> _sets = new();
    private long _lastSweepTicks;

    public override async Task<IReadOnlyList<VectorMatch>> NearestAsync(VectorQuery query, CancellationToken ct)
    {
        var dims = query.Vector.Length;
        if (dims == 0 || query.Limit < 1 || query.Documents is { Count: 0 })
        {
            return [];
        }

        var now = clock.GetUtcNow().UtcDateTime;
        Sweep(now);
        var key = new SetKey(query.Table, query.TenantId, query.Model, query.Table == VectorTable.SemanticCache
            ? query.ContextKey ?? throw new ArgumentException("A semantic-cache search needs its context key.", nameof(query))
            : "", dims);
        var set = _sets.GetOrAdd(key, _ => new VectorSet());
        set.LastUsedTicks = now.Ticks;
        var snapshot = await set.RefreshAsync(dbFactory, key, query.LiveAt ?? now, ct);

        var normalized = new float[dims];
        Normalize(query.Vector, normalized);
        HashSet<Guid>? documents = query.Documents is { } d ? [.. d] : null;
        return snapshot.Nearest(normalized, query.LiveAt, documents, query.Limit);
    }

    public override void Changed(VectorTable table, Guid tenantId)
    {
        foreach (var key in _sets.Keys)
        {
            if (key.Table == table && key.TenantId == tenantId)
            {
                _sets.TryRemove(key, out _);
            }
        }
    }

    /// <summary>Number of sets held (tests).</summary>
    internal int SetCount => _sets.Count;

    /// <summary>Drops idle sets and fully expired cache contexts (at most once a minute).</summary>
    private void Sweep(DateTime now)
    {
        var last = Interlocked.Read(ref _lastSweepTicks);
        if (now.Ticks - last < SweepEvery.Ticks || Interlocked.CompareExchange(ref _lastSweepTicks, now.Ticks, last) != last)
        {
            return;
        }

        foreach (var (key, set) in _sets)
        {
            var expired = key.Table == VectorTable.SemanticCache && set.Current.LatestExpiryUtc <= now;
            if (expired || now.Ticks - set.LastUsedTicks > IdleFor.Ticks)
            {
                // A search holding this set meanwhile still answers correctly; the next one loads it anew.
                _sets.TryRemove(new KeyValuePair<SetKey, VectorSet>(key, set));
            }
        }
    }

    private readonly record struct SetKey(VectorTable Table, Guid TenantId, string Model, string Context, int Dimensions);

    /// <summary>One set's vectors in memory: an immutable snapshot readers scan without a lock, replaced by refreshes.</summary>
    // CA1001: a SemaphoreSlim holds nothing to release unless its AvailableWaitHandle is used (it is not); a dropped set
    // may still be awaited by a search, which disposing it would break.
#pragma warning disable CA1001
    private sealed class VectorSet
#pragma warning restore CA1001
    {
        private readonly SemaphoreSlim _refresh = new(1, 1);

        public Snapshot Current { get; private set; } = Snapshot.Empty;

        public long LastUsedTicks { get; set; }

        /// <summary>Adds the rows stored since the last refresh (all of them the first time); reloads when rows went missing.</summary>
        public async Task<Snapshot> RefreshAsync(KeystoneDbFactory dbFactory, SetKey key, DateTime now, CancellationToken ct)
        {
            await _refresh.WaitAsync(ct);
            try
            {
                await using var db = dbFactory.ForTenant(key.TenantId);
                await db.Database.OpenConnectionAsync(ct);
                try
                {
                    var connection = (SqliteConnection)db.Database.GetDbConnection();
                    var added = await ReadNewAsync(connection, key, Current, now, ct);
                    var current = Current;
                    if (key.Table == VectorTable.Knowledge)
                    {
                        // Rows deleted (a document deleted or changed) or moved to another model since: the count shows it.
                        var total = await CountAsync(connection, key, ct);
                        if (total != current.Seen + added.Seen)
                        {
                            current = Snapshot.Empty;
                            added = await ReadNewAsync(connection, key, current, now, ct);
                        }
                    }

                    Current = current.With(key.Dimensions, added, now);
                    return Current;
                }
                finally
                {
                    await db.Database.CloseConnectionAsync();
                }
            }
            finally
            {
                _refresh.Release();
            }
        }

        private static async Task<long> CountAsync(SqliteConnection connection, SetKey key, CancellationToken ct)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = KnowledgeCountSql;
            command.Parameters.Add("$tenant", SqliteType.Text).Value = key.TenantId;
            command.Parameters.Add("$model", SqliteType.Text).Value = key.Model;
            return (long)(await command.ExecuteScalarAsync(ct))!;
        }

        private static async Task<NewRows> ReadNewAsync(SqliteConnection connection, SetKey key, Snapshot current, DateTime now, CancellationToken ct)
        {
            var rows = new NewRows();
            var bytes = key.Dimensions * sizeof(float);
            var buffer = new byte[bytes];
            await using var command = connection.CreateCommand();
            // Typed as text, Microsoft.Data.Sqlite binds a Guid as upper-case "D" and a DateTime in EF's text format:
            // the forms EF stored them in.
            command.Parameters.Add("$tenant", SqliteType.Text).Value = key.TenantId;
            command.Parameters.Add("$model", SqliteType.Text).Value = key.Model;
            command.Parameters.Add("$after", SqliteType.Integer).Value = current.LastRowId;
            var cache = key.Table == VectorTable.SemanticCache;
            if (cache)
            {
                command.CommandText = CacheRowsSql;
                command.Parameters.Add("$context", SqliteType.Text).Value = key.Context;
                command.Parameters.Add("$now", SqliteType.Text).Value = now;
            }
            else
            {
                command.CommandText = KnowledgeRowsSql;
            }

            var vectorColumn = cache ? 2 : 3;
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Seen++;
                rows.LastRowId = reader.GetInt64(0);
                // A vector of another length (another model's, under the same name): never compared.
                if (reader.GetBytes(vectorColumn, 0, null, 0, 0) != bytes)
                {
                    continue;
                }

                reader.GetBytes(vectorColumn, 0, buffer, 0, bytes);
                rows.RowIds.Add(rows.LastRowId);
                if (cache)
                {
                    rows.Expires.Add(reader.GetDateTime(1));
                }
                else
                {
                    rows.Chunks.Add(reader.GetGuid(1));
                    rows.Documents.Add(reader.GetGuid(2));
                }

                var at = rows.Vectors.Count;
                CollectionsMarshal.SetCount(rows.Vectors, at + key.Dimensions);
                Normalize(MemoryMarshal.Cast<byte, float>(buffer.AsSpan()), CollectionsMarshal.AsSpan(rows.Vectors).Slice(at, key.Dimensions));
            }

            return rows;
        }
    }

    /// <summary>Rows read by one refresh.</summary>
    private sealed class NewRows
    {
        public List<long> RowIds { get; } = [];

        public List<Guid> Chunks { get; } = [];

        public List<Guid> Documents { get; } = [];

        public List<DateTime> Expires { get; } = [];

        public List<float> Vectors { get; } = [];

        /// <summary>Rows read, including those skipped for their length (the knowledge count compares against these).</summary>
        public long Seen { get; set; }

        public long LastRowId { get; set; }
    }

    /// <summary>
    /// One set's rows, flat (<see cref="Count"/> × <see cref="Dimensions"/> normalized floats), with their row ids, chunk
    /// and document ids (knowledge) or expiry (cache). Appends write past <see cref="Count"/> into spare capacity and
    /// publish a new snapshot sharing the arrays, so a reader of an older snapshot never sees a half-written row.
    /// </summary>
    private sealed record Snapshot(long[] RowIds, Guid[] Chunks, Guid[] Documents, DateTime[] Expires, float[] Vectors, int Count, int Dimensions,
        long LastRowId, long Seen, DateTime LatestExpiryUtc)
    {
        public static readonly Snapshot Empty = new([], [], [], [], [], 0, 0, 0, 0, DateTime.MinValue);

        private bool IsCache => Expires.Length > 0;

        private bool IsKnowledge => Chunks.Length > 0;

        /// <summary>The <paramref name="limit"/> rows with the highest dot product with the normalized query, best first.</summary>
        public VectorMatch[] Nearest(float[] query, DateTime? liveAt, HashSet<Guid>? documents, int limit)
        {
            if (Count == 0)
            {
                return [];
            }

            // A min-heap of the best so far: a row enters only when it beats the worst kept one.
            var best = new PriorityQueue<int, float>(Math.Min(limit, Count) + 1);
            var vectors = Vectors.AsSpan(0, Count * Dimensions);
            var checkExpiry = liveAt is not null && IsCache;
            var checkDocuments = documents is not null && IsKnowledge;
            var floor = float.NegativeInfinity;
            for (var i = 0; i < Count; i++)
            {
                if ((checkExpiry && Expires[i] <= liveAt!.Value) || (checkDocuments && !documents!.Contains(Documents[i])))
                {
                    continue;
                }

                var similarity = TensorPrimitives.Dot(query, vectors.Slice(i * Dimensions, Dimensions));
                if (best.Count < limit)
                {
                    best.Enqueue(i, similarity);
                    floor = best.Count == limit ? PeekPriority(best) : float.NegativeInfinity;
                }
                else if (similarity > floor)
                {
                    best.EnqueueDequeue(i, similarity);
                    floor = PeekPriority(best);
                }
            }

            var found = new VectorMatch[best.Count];
            for (var at = found.Length - 1; best.TryDequeue(out var i, out var similarity); at--)
            {
                found[at] = new VectorMatch(RowIds[i], IsKnowledge ? Chunks[i] : Guid.Empty, Math.Clamp(similarity, -1, 1));
            }

            return found;
        }

        private static float PeekPriority(PriorityQueue<int, float> queue) => queue.TryPeek(out _, out var priority) ? priority : float.NegativeInfinity;

        public Snapshot With(int dimensions, NewRows added, DateTime now)
        {
            var cache = added.Expires.Count > 0 || IsCache;
            var knowledge = added.Chunks.Count > 0 || IsKnowledge;
            var live = Count;
            if (IsCache)
            {
                live = 0;
                for (var i = 0; i < Count; i++)
                {
                    live += Expires[i] > now ? 1 : 0;
                }
            }

            var seen = Seen + added.Seen;
            var lastRowId = added.Seen > 0 ? added.LastRowId : LastRowId;
            var n = added.RowIds.Count;
            if (n == 0 && live * 2 >= Count)
            {
                return seen == Seen && lastRowId == LastRowId ? this : this with { Seen = seen, LastRowId = lastRowId };
            }

            var latest = LatestExpiryUtc;
            foreach (var e in added.Expires)
            {
                latest = e > latest ? e : latest;
            }

            var needed = live + n;
            if (live == Count && Count + n <= RowIds.Length)
            {
                // Room to spare and nothing to drop: append in place; older snapshots read only their first Count rows.
                Append(this, Count, dimensions, added);
                return this with { Count = needed, Dimensions = dimensions, LastRowId = lastRowId, Seen = seen, LatestExpiryUtc = latest };
            }

            // Grow (doubling) or compact (half expired): new arrays with the live rows, then the new ones.
            var capacity = Math.Max(16, needed * 2);
            var next = new Snapshot(new long[capacity], knowledge ? new Guid[capacity] : [], knowledge ? new Guid[capacity] : [],
                cache ? new DateTime[capacity] : [], new float[capacity * dimensions], needed, dimensions, lastRowId, seen, latest);
            var kept = 0;
            for (var i = 0; i < Count; i++)
            {
                if (!IsCache || Expires[i] > now)
                {
                    next.RowIds[kept] = RowIds[i];
                    if (knowledge)
                    {
                        next.Chunks[kept] = Chunks[i];
                        next.Documents[kept] = Documents[i];
                    }

                    if (cache)
                    {
                        next.Expires[kept] = Expires[i];
                    }

                    Vectors.AsSpan(i * dimensions, dimensions).CopyTo(next.Vectors.AsSpan(kept * dimensions));
                    kept++;
                }
            }

            Append(next, kept, dimensions, added);
            return next;
        }

        private static void Append(Snapshot into, int at, int dimensions, NewRows added)
        {
            CollectionsMarshal.AsSpan(added.RowIds).CopyTo(into.RowIds.AsSpan(at));
            if (added.Chunks.Count > 0)
            {
                CollectionsMarshal.AsSpan(added.Chunks).CopyTo(into.Chunks.AsSpan(at));
                CollectionsMarshal.AsSpan(added.Documents).CopyTo(into.Documents.AsSpan(at));
            }

            if (added.Expires.Count > 0)
            {
                CollectionsMarshal.AsSpan(added.Expires).CopyTo(into.Expires.AsSpan(at));
            }

            CollectionsMarshal.AsSpan(added.Vectors).CopyTo(into.Vectors.AsSpan(at * dimensions));
        }
    }
}
