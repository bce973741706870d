using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>SQLite-only model details (kept out of the shared entity configurations).</summary>
internal static class SqliteModel
{
    public static void Apply(ModelBuilder builder)
    {
        // SQLite stores Guid and DateTime as sortable TEXT, long as INTEGER. The ingest time uses the same
        // text shape as EF's DateTime values (millisecond precision), so it compares correctly with them.
        builder.Entity<Calls.LlmCall>().Property(c => c.IngestedUtc)
            .HasDefaultValueSql("strftime('%Y-%m-%d %H:%M:%f', 'now')");
    }
}
