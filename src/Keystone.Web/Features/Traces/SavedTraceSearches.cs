using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Traces;

/// <summary>One saved search as listed.</summary>
internal sealed record SavedSearchRow(Guid Id, string Name, string Query);

/// <summary>The signed-in user's named trace searches (a name and the page's query string).</summary>
internal sealed class SavedTraceSearches(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant, TimeProvider clock)
{
    public const int MaxNameLength = 128;

    public async Task<IReadOnlyList<SavedSearchRow>> ListAsync(CancellationToken ct)
    {
        var userId = tenant.UserId;
        if (userId is null)
        {
            return [];
        }

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.SavedTraceSearches.AsNoTracking().Where(s => s.UserId == userId).OrderBy(s => s.Name)
            .Select(s => new SavedSearchRow(s.Id, s.Name, s.Query)).ToListAsync(ct);
    }

    /// <summary>Saves (or replaces, by name) the user's search. Returns a validation message instead of saving bad input.</summary>
    public async Task<string?> SaveAsync(string name, TraceFilter filter, CancellationToken ct)
    {
        var userId = tenant.UserId;
        if (userId is null)
        {
            return "Sign in to save searches.";
        }

        name = name?.Trim() ?? "";
        if (name.Length == 0 || name.Length > MaxNameLength)
        {
            return $"Give the search a name of 1 to {MaxNameLength} characters.";
        }

        // Read-then-insert: two saves of one name at once (a double click) both read "none", and the second insert
        // breaks the unique (user, name) index. The retry reads again and updates the row the first one wrote.
        try
        {
            await WriteConflicts.RetryAsync(async () =>
            {
                await using var db = await dbFactory.CreateDbContextAsync(ct);
                var existing = await db.SavedTraceSearches.FirstOrDefaultAsync(s => s.UserId == userId && s.Name == name, ct);
                if (existing is null)
                {
                    db.SavedTraceSearches.Add(new SavedTraceSearch
                    {
                        Id = Guid.NewGuid(),
                        UserId = userId,
                        Name = name,
                        Query = filter.ToQueryString(),
                        CreatedUtc = clock.GetUtcNow().UtcDateTime,
                    });
                }
                else
                {
                    existing.Query = filter.ToQueryString();
                }

                await db.SaveChangesAsync(ct);
            });
        }
        catch (Exception ex) when (WriteConflicts.IsConflict(ex))
        {
            return "Another save of this search happened at the same moment; nothing was changed. Try again.";
        }

        return null;
    }

    /// <summary>Deletes one of the user's own searches (another user's id deletes nothing).</summary>
    public async Task DeleteAsync(Guid id, CancellationToken ct)
    {
        var userId = tenant.UserId;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await db.SavedTraceSearches.Where(s => s.Id == id && s.UserId == userId).ExecuteDeleteAsync(ct);
    }
}
