using Keystone.Data;
using Keystone.Data.Pricing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Pricing;

/// <summary>
/// Inserts the rows of the versioned price file that the database does not have yet (same provider, model and
/// effective date). Idempotent: running it again, or on several instances at once, adds nothing twice.
/// </summary>
public sealed class PriceSeeder(KeystoneDbFactory dbFactory, ILogger<PriceSeeder> log)
{
    /// <summary>Seeds the embedded price file.</summary>
    /// <returns>How many rows were inserted.</returns>
    public Task<int> SeedAsync(CancellationToken ct) => SeedAsync(PriceFile.LoadEmbedded(), ct);

    internal async Task<int> SeedAsync(IReadOnlyList<ModelPrice> rows, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var existing = (await db.ModelPrices.AsNoTracking()
                .Select(p => new { p.Provider, p.Model, p.EffectiveFromUtc })
                .ToListAsync(ct))
            .Select(p => (p.Provider, p.Model, p.EffectiveFromUtc.Ticks))
            .ToHashSet();
        var missing = rows.Where(r => !existing.Contains((r.Provider, r.Model, r.EffectiveFromUtc.Ticks))).ToList();
        if (missing.Count == 0)
        {
            return 0;
        }

        db.ModelPrices.AddRange(missing);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex)
        {
            // Another instance seeded the same file between our read and write (the unique index stopped us):
            // its rows are the same rows, so there is nothing left to do.
            log.LogInformation(ex, "Price rows were seeded concurrently by another instance");
            return 0;
        }

        log.LogInformation("Seeded {Count} model price rows", missing.Count);
        return missing.Count;
    }
}
