using Keystone.Web.Platform;
using System.Text.RegularExpressions;
using Keystone.Data;
using Keystone.Data.Prompts;
using Keystone.Web.Hosting;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// Reading and editing managed prompts: versions (immutable, numbered), activation globally or for one tenant,
/// one-click rollback, removing a tenant's override. Every change is audited. Edits need the prompt editor role,
/// checked here as well as on the page, so no other caller can slip past it.
/// </summary>
internal sealed partial class PromptCatalog(KeystoneDbFactory dbFactory, TenantContext tenant, AuditLog audit, TimeProvider clock)
{
    /// <summary>Longest template accepted (characters).</summary>
    public const int MaxTemplateLength = 32_000;

    /// <summary>True when the signed-in user may create versions and activate them.</summary>
    public bool CanEdit => Policies.RolesFor[Policies.PromptEditor].Any(tenant.User.IsInRole);

    /// <summary>Every prompt with its active global version, number of versions and tenant overrides.</summary>
    public async Task<IReadOnlyList<PromptListRow>> ListAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var prompts = await db.Prompts.AsNoTracking().OrderBy(p => p.Name).ToListAsync(ct);
        var counts = await db.PromptVersions.AsNoTracking().GroupBy(v => v.PromptId)
            .Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, ct);
        var activations = await LatestActivationsAsync(db, null, ct);
        var numbers = await db.PromptVersions.AsNoTracking().Select(v => new { v.Id, v.Number }).ToDictionaryAsync(v => v.Id, v => v.Number, ct);
        return prompts.Select(p =>
        {
            var mine = activations.Where(a => a.PromptId == p.Id).ToList();
            var global = mine.FirstOrDefault(a => a.TenantId is null)?.VersionId;
            return new PromptListRow(p.Id, p.Name, p.Description, global is { } g ? numbers[g] : null, counts.GetValueOrDefault(p.Id),
                mine.Count(a => a.TenantId is not null && a.VersionId is not null));
        }).ToList();
    }

    /// <summary>The prompt, its versions (newest first), active versions and history; null when there is no such prompt.</summary>
    public async Task<PromptDetail?> GetAsync(string name, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var slug = Slug(name);
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == slug, ct);
        if (prompt is null)
        {
            return null;
        }

        var versions = await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id).OrderByDescending(v => v.Number).ToListAsync(ct);
        var number = versions.ToDictionary(v => v.Id, v => v.Number);
        var tenants = await db.Tenants.AsNoTracking().Select(t => new { t.Id, t.Name }).ToDictionaryAsync(t => t.Id, t => t.Name, ct);
        var latest = await LatestActivationsAsync(db, prompt.Id, ct);
        var global = latest.FirstOrDefault(a => a.TenantId is null)?.VersionId;
        var overrides = latest.Where(a => a.TenantId is not null && a.VersionId is not null)
            .Select(a => new PromptOverride(a.TenantId!.Value, tenants.GetValueOrDefault(a.TenantId.Value, a.TenantId.Value.ToString()), number[a.VersionId!.Value]))
            .OrderBy(o => o.TenantName).ToList();
        var history = await db.PromptActivations.AsNoTracking().Where(a => a.PromptId == prompt.Id).OrderByDescending(a => a.Id).Take(100).ToListAsync(ct);
        return new PromptDetail(prompt, versions, global is { } g ? number[g] : null, overrides,
            history.Select(a => new PromptActivationRow(a.Id, a.TenantId, a.TenantId is { } t ? tenants.GetValueOrDefault(t) : null,
                a.VersionId is { } v ? number[v] : null, a.ActivatedByName ?? a.ActivatedByUserId, a.IsRollback, a.ActivatedUtc)).ToList());
    }

    /// <summary>The versions of a prompt, newest first (empty when there is no such prompt).</summary>
    public async Task<IReadOnlyList<PromptVersionOption>> VersionsAsync(string name, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var slug = Slug(name);
        return await db.PromptVersions.AsNoTracking()
            .Where(v => db.Prompts.Any(p => p.Id == v.PromptId && p.Name == slug))
            .OrderByDescending(v => v.Number)
            .Select(v => new PromptVersionOption(v.Id, v.Number, v.Note))
            .ToListAsync(ct);
    }

    /// <summary>The number of a version (for a trace's prompt link); null when the version no longer exists.</summary>
    public async Task<int?> VersionNumberAsync(Guid versionId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return await db.PromptVersions.AsNoTracking().Where(v => v.Id == versionId).Select(v => (int?)v.Number).FirstOrDefaultAsync(ct);
    }

    /// <summary>The version id of <paramref name="name"/>@<paramref name="number"/>, for the trace search filter.</summary>
    public async Task<Guid?> VersionIdAsync(string name, int number, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var slug = Slug(name);
        return await db.PromptVersions.AsNoTracking()
            .Where(v => v.Number == number && db.Prompts.Any(p => p.Id == v.PromptId && p.Name == slug))
            .Select(v => (Guid?)v.Id).FirstOrDefaultAsync(ct);
    }

    /// <summary>The tenants an override can be given to.</summary>
    public async Task<IReadOnlyList<PromptTenantOption>> TenantsAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return await db.Tenants.AsNoTracking().OrderBy(t => t.Name).Select(t => new PromptTenantOption(t.Id, t.Name)).ToListAsync(ct);
    }

    /// <summary>
    /// Creates a prompt with its version 1 (not yet active: activating is a separate, audited step). Throws
    /// <see cref="PromptException"/> (<see cref="PromptException.Invalid"/>) when the name is taken or not a slug, or the
    /// content is not valid.
    /// </summary>
    public async Task<Prompt> CreatePromptAsync(string name, string? description, NewPromptVersion first, CancellationToken ct)
    {
        EnsureEditor();
        var slug = Slug(name);
        if (!IsValidName(slug))
        {
            throw new PromptException(PromptException.Invalid, "The name must be lower-case letters, digits and single dashes (for example support-reply), at most 64 characters.");
        }

        if (description is { Length: > 500 })
        {
            throw new PromptException(PromptException.Invalid, "The description may have at most 500 characters.");
        }

        var error = Validate(first);
        if (error is not null)
        {
            throw new PromptException(PromptException.Invalid, error);
        }

        await using (var db = dbFactory.ForSystem())
        {
            if (await db.Prompts.AnyAsync(p => p.Name == slug, ct))
            {
                throw new PromptException(PromptException.Invalid, $"A prompt named '{slug}' exists already.");
            }

            db.Prompts.Add(new Prompt
            {
                Id = Guid.NewGuid(),
                Name = slug,
                Description = string.IsNullOrWhiteSpace(description) ? null : description.Trim(),
                CreatedUtc = clock.GetUtcNow().UtcDateTime,
            });
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException)
            {
                throw new PromptException(PromptException.Invalid, $"A prompt named '{slug}' exists already.");
            }
        }

        await audit.WriteAsync("prompt.create", $"prompt:{slug}", null, null, ct);
        await CreateVersionAsync(slug, first, ct);
        await using var read = dbFactory.ForSystem();
        return await read.Prompts.AsNoTracking().SingleAsync(p => p.Name == slug, ct);
    }

    /// <summary>
    /// Adds version n+1 to the prompt. Throws <see cref="PromptException"/> (<see cref="PromptException.Invalid"/>) with
    /// a message for the form when the content is not valid. The new version is not activated.
    /// </summary>
    public async Task<PromptVersion> CreateVersionAsync(string name, NewPromptVersion input, CancellationToken ct)
    {
        EnsureEditor();
        var error = Validate(input);
        if (error is not null)
        {
            throw new PromptException(PromptException.Invalid, error);
        }

        for (var attempt = 1; ; attempt++)
        {
            await using var db = dbFactory.ForSystem();
            var prompt = await FindAsync(db, name, ct);
            var next = (await db.PromptVersions.Where(v => v.PromptId == prompt.Id).MaxAsync(v => (int?)v.Number, ct) ?? 0) + 1;
            var version = new PromptVersion
            {
                Id = Guid.NewGuid(),
                PromptId = prompt.Id,
                Number = next,
                SystemTemplate = input.SystemTemplate?.Trim() ?? "",
                UserTemplate = input.UserTemplate!.Trim(),
                ModelAlias = input.ModelAlias!.Trim(),
                Temperature = input.Temperature,
                MaxTokens = input.MaxTokens,
                ResponseSchema = string.IsNullOrWhiteSpace(input.ResponseSchema) ? null : input.ResponseSchema.Trim(),
                Note = string.IsNullOrWhiteSpace(input.Note) ? null : input.Note.Trim(),
                CreatedByUserId = tenant.UserId ?? "",
                CreatedByName = ActorName,
                CreatedUtc = clock.GetUtcNow().UtcDateTime,
            };
            db.PromptVersions.Add(version);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException) when (attempt < 3)
            {
                // Another editor took number n at the same moment (unique index): take the next one.
                continue;
            }

            await audit.WriteAsync("prompt.version_create", $"prompt:{prompt.Name}", null, new { version = next, model = version.ModelAlias }, ct);
            return version;
        }
    }

    /// <summary>Makes version <paramref name="number"/> active globally (<paramref name="tenantId"/> null) or for one tenant.</summary>
    public async Task ActivateAsync(string name, int number, Guid? tenantId, CancellationToken ct)
    {
        EnsureEditor();
        await using var db = dbFactory.ForSystem();
        var prompt = await FindAsync(db, name, ct);
        var version = await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.PromptId == prompt.Id && v.Number == number, ct)
            ?? throw new PromptException(PromptException.VersionNotFound, $"The prompt '{prompt.Name}' has no version {number}.");
        await EnsureTenantAsync(db, tenantId, ct);
        await AddActivationAsync(db, prompt, tenantId, version.Id, rollback: false, ct);
        await audit.WriteAsync("prompt.activate", $"prompt:{prompt.Name}", tenantId, new { version = number, scope = tenantId is null ? "global" : "tenant" }, ct);
    }

    /// <summary>
    /// Makes the previously active version of the scope active again (a new history row marked as a rollback). For a
    /// tenant whose previous state was "no override", the override is removed. Throws when there is nothing to go back to.
    /// </summary>
    /// <returns>The version number now active in the scope (null: the tenant follows the global version again).</returns>
    public async Task<int?> RollbackAsync(string name, Guid? tenantId, CancellationToken ct)
    {
        EnsureEditor();
        await using var db = dbFactory.ForSystem();
        var prompt = await FindAsync(db, name, ct);
        var history = await db.PromptActivations.AsNoTracking()
            .Where(a => a.PromptId == prompt.Id && a.TenantId == tenantId)
            .OrderByDescending(a => a.Id).Select(a => a.VersionId).Take(200).ToListAsync(ct);
        if (history.Count == 0)
        {
            throw new PromptException(PromptException.Invalid, "Nothing was activated here yet, so there is nothing to roll back.");
        }

        var current = history[0];
        var earlier = history.Skip(1).Where(v => v != current).ToList();
        Guid? previous;
        if (earlier.Count > 0)
        {
            previous = earlier[0];
        }
        else if (tenantId is not null && current is not null)
        {
            // A tenant's first override has no earlier state but "no override": rolling it back follows the global version.
            previous = null;
        }
        else
        {
            throw new PromptException(PromptException.Invalid, "There is no previous version to roll back to.");
        }

        await AddActivationAsync(db, prompt, tenantId, previous, rollback: true, ct);
        var number = previous is { } p ? await db.PromptVersions.Where(v => v.Id == p).Select(v => (int?)v.Number).SingleAsync(ct) : null;
        await audit.WriteAsync("prompt.rollback", $"prompt:{prompt.Name}", tenantId,
            new { version = number, scope = tenantId is null ? "global" : "tenant" }, ct);
        return number;
    }

    /// <summary>Removes a tenant's override: the tenant follows the global version again.</summary>
    public async Task RemoveOverrideAsync(string name, Guid tenantId, CancellationToken ct)
    {
        EnsureEditor();
        await using var db = dbFactory.ForSystem();
        var prompt = await FindAsync(db, name, ct);
        await AddActivationAsync(db, prompt, tenantId, null, rollback: false, ct);
        await audit.WriteAsync("prompt.override_remove", $"prompt:{prompt.Name}", tenantId, null, ct);
    }

    /// <summary>Most sample variables a prompt keeps.</summary>
    public const int MaxSampleVariables = 100;

    /// <summary>Longest sample value (characters).</summary>
    public const int MaxSampleLength = 8_000;

    /// <summary>The sample variables kept for a prompt (empty when none were saved or the stored text is unreadable).</summary>
    public static IReadOnlyDictionary<string, string> SamplesOf(Prompt prompt)
    {
        if (string.IsNullOrWhiteSpace(prompt.SampleVariables))
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(prompt.SampleVariables) is { } samples
                ? new Dictionary<string, string>(samples, StringComparer.Ordinal)
                : new Dictionary<string, string>(StringComparer.Ordinal);
        }
        catch (System.Text.Json.JsonException)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Keeps <paramref name="samples"/> as the prompt's sample variables (and so its declared variables). Throws
    /// <see cref="PromptException"/> (<see cref="PromptException.Invalid"/>) naming the first bad name or value.
    /// </summary>
    public async Task SaveSamplesAsync(string name, IReadOnlyDictionary<string, string> samples, CancellationToken ct)
    {
        EnsureEditor();
        if (samples.Count > MaxSampleVariables)
        {
            throw new PromptException(PromptException.Invalid, $"A prompt keeps at most {MaxSampleVariables} sample variables.");
        }

        foreach (var (key, value) in samples)
        {
            if (!PromptTemplate.IsVariableName(key))
            {
                throw new PromptException(PromptException.Invalid, $"'{key}' is not a variable name: use letters, digits, _ . - and start with a letter or _.");
            }

            if (value.Length > MaxSampleLength)
            {
                throw new PromptException(PromptException.Invalid, $"The sample for '{key}' may have at most {MaxSampleLength:N0} characters.");
            }
        }

        var json = System.Text.Json.JsonSerializer.Serialize(samples.OrderBy(s => s.Key, StringComparer.Ordinal).ToDictionary(s => s.Key, s => s.Value));
        if (json.Length > 32_000)
        {
            throw new PromptException(PromptException.Invalid, "The sample variables are too long together (at most 32,000 characters).");
        }

        await using var db = dbFactory.ForSystem();
        var prompt = await db.Prompts.SingleOrDefaultAsync(p => p.Name == Slug(name), ct)
            ?? throw new PromptException(PromptException.NotFound, $"There is no prompt named '{name}'.");
        prompt.SampleVariables = json;
        await db.SaveChangesAsync(ct);
        await audit.WriteAsync("prompt.samples_update", $"prompt:{prompt.Name}", null, new { variables = samples.Keys.Order(StringComparer.Ordinal).ToList() }, ct);
    }

    /// <summary>The form's validation message, or null when <paramref name="input"/> is valid.</summary>
    public static string? Validate(NewPromptVersion input)
    {
        if (string.IsNullOrWhiteSpace(input.UserTemplate))
        {
            return "The user template is required.";
        }

        if (input.UserTemplate.Length > MaxTemplateLength || (input.SystemTemplate?.Length ?? 0) > MaxTemplateLength)
        {
            return $"A template may have at most {MaxTemplateLength:N0} characters.";
        }

        if (string.IsNullOrWhiteSpace(input.ModelAlias) || input.ModelAlias.Trim().Length > 128)
        {
            return "The model alias is required (for example smart or fast).";
        }

        if (input.Temperature is { } t && (t < 0 || t > 2 || double.IsNaN(t)))
        {
            return "The temperature must be between 0 and 2.";
        }

        if (input.MaxTokens is { } m && (m < 1 || m > 100_000))
        {
            return "Max tokens must be between 1 and 100,000.";
        }

        if (input.Note is { Length: > 1000 })
        {
            return "The note may have at most 1,000 characters.";
        }

        return ResponseSchemaCheck.Validate(input.ResponseSchema);
    }

    /// <summary>True when <paramref name="name"/> is a valid prompt name (lower-case letters, digits, single dashes).</summary>
    public static bool IsValidName(string? name) => name is { Length: > 0 and <= 64 } && NamePattern().IsMatch(name);

    /// <summary>A prompt name as stored: trimmed, lower case (names are matched case-insensitively everywhere).</summary>
    internal static string Slug(string? name) => (name ?? "").Trim().ToLowerInvariant();

    private string? ActorName => tenant.User.FindFirst(System.Security.Claims.ClaimTypes.Email)?.Value ?? tenant.User.Identity?.Name;

    private void EnsureEditor()
    {
        if (!CanEdit)
        {
            throw new UnauthorizedAccessException("Only prompt editors may change prompts.");
        }
    }

    private static async Task<Prompt> FindAsync(KeystoneDbContext db, string name, CancellationToken ct)
    {
        var slug = Slug(name);
        return await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == slug, ct)
            ?? throw new PromptException(PromptException.NotFound, $"There is no prompt named '{name}'.");
    }

    private static async Task EnsureTenantAsync(KeystoneDbContext db, Guid? tenantId, CancellationToken ct)
    {
        if (tenantId is { } t && !await db.Tenants.AnyAsync(x => x.Id == t, ct))
        {
            throw new PromptException(PromptException.Invalid, "There is no such tenant.");
        }
    }

    private async Task AddActivationAsync(KeystoneDbContext db, Prompt prompt, Guid? tenantId, Guid? versionId, bool rollback, CancellationToken ct)
    {
        if (tenantId is null && versionId is null)
        {
            throw new PromptException(PromptException.Invalid, "The global activation always names a version.");
        }

        db.PromptActivations.Add(new PromptActivation
        {
            PromptId = prompt.Id,
            TenantId = tenantId,
            VersionId = versionId,
            ActivatedByUserId = tenant.UserId ?? "",
            ActivatedByName = ActorName,
            IsRollback = rollback,
            ActivatedUtc = clock.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(ct);
    }

    /// <summary>The latest activation row per (prompt, tenant or global), of one prompt or of all.</summary>
    private static async Task<List<PromptActivation>> LatestActivationsAsync(KeystoneDbContext db, Guid? promptId, CancellationToken ct)
    {
        var rows = await db.PromptActivations.AsNoTracking()
            .Where(a => promptId == null || a.PromptId == promptId)
            .ToListAsync(ct);
        // REVIEW: reads every activation row; fine for the tens of prompts and hundreds of activations a company has.
        return rows.GroupBy(a => (a.PromptId, a.TenantId)).Select(g => g.MaxBy(a => a.Id)!).ToList();
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
