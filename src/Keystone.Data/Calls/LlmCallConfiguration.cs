using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Calls;

internal sealed class LlmCallConfiguration : IEntityTypeConfiguration<LlmCall>
{
    public void Configure(EntityTypeBuilder<LlmCall> b)
    {
        b.ToTable("llm_calls");
        b.Property(c => c.UserId).HasMaxLength(64);
        b.Property(c => c.EndUser).HasMaxLength(256);
        b.Property(c => c.Feature).HasMaxLength(64);
        b.Property(c => c.RequestId).HasMaxLength(64);
        b.Property(c => c.PromptName).HasMaxLength(128);
        b.Property(c => c.Alias).HasMaxLength(128);
        b.Property(c => c.Provider).HasMaxLength(64);
        b.Property(c => c.Model).HasMaxLength(128);
        b.Property(c => c.ErrorCode).HasMaxLength(64);
        b.Property(c => c.CostStatus).HasConversion<string>().HasMaxLength(16);
        b.Property(c => c.BilledTo).HasConversion<string>().HasMaxLength(16);
        b.Property(c => c.CacheStatus).HasConversion<string>().HasMaxLength(16);
        b.Property(c => c.Status).HasConversion<string>().HasMaxLength(16);
        b.HasIndex(c => new { c.TenantId, c.CreatedUtc });
        b.HasIndex(c => c.TraceId);
        b.HasIndex(c => new { c.TenantId, c.Feature, c.CreatedUtc });
        b.HasIndex(c => c.CreatedUtc);
        // Trace search sorts by cost and latency too, in a tenant or across all of them (platform roles), and filters
        // by end user: those indexes differ per database (SqliteModel.ApplyCallIndexes, PostgresModel.ApplyCallIndexes).
        // On SQLite the keyset tie-breaker is the rowid, which every index entry already holds, instead of a second
        // copy of the 36-character call id (issue 26: 150 bytes per call).
        // The trace page lists a call's replays, newest first. Partial: almost every call has no replay-of, and
        // with all those NULLs in it SQLite's statistics make the index look useless (it then scanned every call).
        b.HasIndex(c => new { c.ReplayOfCallId, c.CreatedUtc }).HasFilter("replay_of_call_id IS NOT NULL");
        // Database-clock default (per provider in SqliteModel / PostgresModel): the rollup watermark.
        b.Property(c => c.IngestedUtc).ValueGeneratedOnAdd();
        b.HasIndex(c => c.IngestedUtc);
    }
}

internal sealed class LlmTraceConfiguration : IEntityTypeConfiguration<LlmTrace>
{
    public void Configure(EntityTypeBuilder<LlmTrace> b)
    {
        b.ToTable("llm_traces");
        b.HasKey(t => t.CallId);
        b.HasOne<LlmCall>().WithOne().HasForeignKey<LlmTrace>(t => t.CallId).OnDelete(DeleteBehavior.Cascade);
        // The retention index (by age; per tenant on PostgreSQL) is per database: SqliteModel, PostgresModel.
    }
}
