using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>PostgreSQL-only model details (kept out of the shared entity configurations).</summary>
internal static class PostgresModel
{
    public static void Apply(ModelBuilder builder)
    {
        // clock_timestamp(), not now(): within one long transaction now() is frozen at its start.
        builder.Entity<Calls.LlmCall>().Property(c => c.IngestedUtc).HasDefaultValueSql("clock_timestamp()");
    }
}
