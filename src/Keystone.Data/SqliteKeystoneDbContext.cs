using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>The embedded-mode model (SQLite), with its own migration set under <c>Migrations/Sqlite</c>.</summary>
public sealed class SqliteKeystoneDbContext(DbContextOptions options, TenantScope scope)
    : KeystoneDbContext(options, scope)
{
    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        SqliteModel.Apply(builder);
    }

    /// <inheritdoc />
    public override IQueryable<Guid> TraceIdsMatching(IReadOnlyList<string> words, DateTime? fromUtc = null, DateTime? toUtc = null,
        Guid? tenantId = null, string? feature = null)
    {
        var match = SqliteModel.MatchExpression(words, tenantId, feature);
        // The rowid is the trace's time key (SqliteModel.FullTextSql): a time range is a rowid range FTS5 seeks.
        var from = SqliteModel.KeyFrom(fromUtc);
        var to = SqliteModel.KeyTo(toUtc);
        return Database.SqlQuery<Guid>(
            $"SELECT call_id AS \"Value\" FROM llm_traces_fts WHERE llm_traces_fts MATCH {match} AND rowid >= {from} AND rowid < {to}");
    }

    /// <inheritdoc />
    public override bool FullTextReadsNewestFirst => true;

    /// <inheritdoc />
    public override bool CallsTieBreakByRowKey => true;

    /// <summary>Up to this many matches are read as keys (small windows); larger windows only seek their last key.</summary>
    private const int MaxListedKeys = 4_096;

    /// <inheritdoc />
    public override async Task<NewestMatches> NewestMatchesAsync(IReadOnlyList<string> words, Guid? tenantId, string? feature, DateTime? beforeUtc,
        int count, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var match = SqliteModel.MatchExpression(words, tenantId, feature);
        var to = SqliteModel.KeyTo(beforeUtc);
        // Walks the doclists backwards from the bound; only rowids are read, never the stored text.
        if (count <= MaxListedKeys)
        {
            var keys = await Database.SqlQuery<long>(
                    $"SELECT rowid AS \"Value\" FROM llm_traces_fts WHERE llm_traces_fts MATCH {match} AND rowid < {to} ORDER BY rowid DESC LIMIT {count}")
                .ToListAsync(ct);
            return keys.Count == count ? new NewestMatches(SqliteModel.MillisecondStartOf(keys[^1]), null) : new NewestMatches(null, keys);
        }

        var last = await Database.SqlQuery<long>(
                $"SELECT rowid AS \"Value\" FROM llm_traces_fts WHERE llm_traces_fts MATCH {match} AND rowid < {to} ORDER BY rowid DESC LIMIT 1 OFFSET {count - 1}")
            .ToListAsync(ct);
        return new NewestMatches(last.Count == 0 ? null : SqliteModel.MillisecondStartOf(last[0]), null);
    }

    /// <inheritdoc />
    public override IQueryable<Guid> TraceIdsWithKeys(IReadOnlyList<long> keys)
    {
        // One JSON array parameter instead of one parameter per key (SQLite caps the number of parameters).
        var json = System.Text.Json.JsonSerializer.Serialize(keys);
        return Database.SqlQuery<Guid>(
            $"SELECT call_id AS \"Value\" FROM llm_traces_fts WHERE rowid IN (SELECT value FROM json_each({json}))");
    }
}
