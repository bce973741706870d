using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>SQLite-only model details (kept out of the shared entity configurations).</summary>
internal static class SqliteModel
{
    public static void Apply(ModelBuilder builder)
    {
        // Nothing yet: SQLite stores Guid and DateTime as sortable TEXT, long as INTEGER.
        _ = builder;
    }
}
