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
    public override IQueryable<Guid> TraceIdsMatching(IReadOnlyList<string> words)
    {
        var match = FullTextQuery.ToFts5(words);
        return Database.SqlQuery<Guid>($"SELECT call_id AS \"Value\" FROM llm_traces_fts WHERE llm_traces_fts MATCH {match}");
    }
}
