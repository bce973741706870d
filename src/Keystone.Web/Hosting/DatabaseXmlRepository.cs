using System.Xml.Linq;
using Keystone.Data;
using Keystone.Data.Identity;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Hosting;

/// <summary>
/// Data Protection's key ring in the shared database (PostgreSQL mode, decision 21): every instance reads and writes
/// the same keys, so a sign-in cookie, an antiforgery token or a BYOK secret protected on one instance opens on the
/// others. When the table is empty, the keys an earlier version kept in <paramref name="legacyFolder"/> are imported
/// first, so nothing protected before the switch (BYOK secrets above all) becomes unreadable.
/// </summary>
internal sealed class DatabaseXmlRepository(KeystoneDbFactory dbFactory, string legacyFolder, TimeProvider time, ILogger<DatabaseXmlRepository> log)
    : IXmlRepository
{
    // Data Protection calls these synchronously (its key ring is built lazily on first use, then cached).
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var db = dbFactory.ForSystem();
        var stored = Read(db);
        if (stored.Count == 0 && ImportLegacy(db) > 0)
        {
            stored = Read(db);
        }

        return [.. stored.Select(XElement.Parse)];
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var db = dbFactory.ForSystem();
        if (!TryAdd(db, friendlyName, element.ToString(SaveOptions.DisableFormatting)))
        {
            // Same name already stored (another instance was first): Data Protection names elements by their key id.
            log.LogInformation("Data Protection element {Name} was already stored by another instance", friendlyName);
        }
    }

    private static List<string> Read(KeystoneDbContext db)
        => db.DataProtectionKeys.AsNoTracking().OrderBy(k => k.Id).Select(k => k.Xml).ToList();

    private int ImportLegacy(KeystoneDbContext db)
    {
        if (!Directory.Exists(legacyFolder))
        {
            return 0;
        }

        var imported = 0;
        foreach (var file in Directory.EnumerateFiles(legacyFolder, "*.xml").Order(StringComparer.Ordinal))
        {
            // Parsed before storing: a corrupt file is reported by name instead of breaking every later start.
            var xml = XElement.Load(file).ToString(SaveOptions.DisableFormatting);
            imported += TryAdd(db, Path.GetFileNameWithoutExtension(file), xml) ? 1 : 0;
        }

        if (imported > 0)
        {
            log.LogInformation("Imported {Count} Data Protection key file(s) from {Folder} into the database", imported, legacyFolder);
        }

        return imported;
    }

    private bool TryAdd(KeystoneDbContext db, string friendlyName, string xml)
    {
        var row = new DataProtectionKey { FriendlyName = friendlyName, Xml = xml, CreatedUtc = time.GetUtcNow().UtcDateTime };
        db.DataProtectionKeys.Add(row);
        try
        {
            db.SaveChanges();
            return true;
        }
        catch (DbUpdateException) when (db.DataProtectionKeys.AsNoTracking().Any(k => k.FriendlyName == friendlyName))
        {
            db.Entry(row).State = EntityState.Detached;
            return false;
        }
    }
}
