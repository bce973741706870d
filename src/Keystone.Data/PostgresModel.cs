using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>PostgreSQL-only model details (kept out of the shared entity configurations).</summary>
internal static class PostgresModel
{
    public static void Apply(ModelBuilder builder)
    {
        // Identity's tables are not tenant-owned; nothing provider-specific for them.
        _ = builder;
    }
}
