using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Evals;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Eval sets and their examples in the database: list, create, add, edit, delete, import JSONL. Prompt editors are
/// platform staff and work across tenants, so this reads with the all-tenants scope; a tenant's rows keep its id (RLS
/// on PostgreSQL, the query filter on both, still hold them to it for every tenant-scoped reader). No authorization
/// or audit here: <see cref="EvalSetEditor"/> checks the role and audits for the console.
/// </summary>
internal sealed class EvalSetStore(KeystoneDbFactory dbFactory, TimeProvider clock)
{
    /// <summary>The set of calls made without a named prompt (where support's examples of such calls land).</summary>
    public const string SupportSet = "support";

    /// <summary>Largest JSONL import (lines).</summary>
    public const int MaxImportLines = 5_000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Sets, optionally of one prompt, global first then by tenant name.</summary>
    public async Task<IReadOnlyList<EvalSetRow>> ListSetsAsync(string? promptName, CancellationToken ct)
    {
        // A read only: examples saved before sets existed get their set row once at start (EvalSetAdoption), not here.
        await using var db = dbFactory.ForSystem();
        var sets = await db.EvalSets.AsNoTracking().Where(s => promptName == null || s.PromptName == promptName).ToListAsync(ct);
        var tenants = await db.Tenants.AsNoTracking().Select(t => new { t.Id, t.Name }).ToDictionaryAsync(t => t.Id, t => t.Name, ct);
        var counts = await db.EvalExamples.AsNoTracking().GroupBy(e => new { e.TenantId, e.EvalSet })
            .Select(g => new { g.Key.TenantId, g.Key.EvalSet, Count = g.Count() }).ToListAsync(ct);
        return sets.Select(s => new EvalSetRow(s.Id, s.Name, s.PromptName, s.TenantId,
                s.TenantId is { } t ? tenants.GetValueOrDefault(t, t.ToString()) : "Global",
                counts.FirstOrDefault(c => c.TenantId == s.TenantId && c.EvalSet == s.Name)?.Count ?? 0, s.Description, s.Feature, s.NightlyAlias, s.NightlyAliasSinceUtc))
            .OrderBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.TenantId is null ? 0 : 1).ThenBy(r => r.Owner, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Tenants by name (for the owner of a new set) and the managed prompts' names.</summary>
    public async Task<(IReadOnlyList<(Guid Id, string Name)> Tenants, IReadOnlyList<string> Prompts)> ChoicesAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var tenants = await db.Tenants.AsNoTracking().OrderBy(t => t.Name).Select(t => new { t.Id, t.Name }).ToListAsync(ct);
        var prompts = await db.Prompts.AsNoTracking().OrderBy(p => p.Name).Select(p => p.Name).ToListAsync(ct);
        return (tenants.Select(t => (t.Id, t.Name)).ToList(), prompts);
    }

    /// <summary>An example as one JSONL line (what the console edits and the import reads).</summary>
    public static string ToJsonLine(EvalExampleInput input) => JsonSerializer.Serialize(new JsonlLine(
        input.Variables is { } v ? new Dictionary<string, string>(v) : null, input.Messages?.ToList(), input.Expected,
        input.Expectations?.ToList(), input.Notes), LineJson);

    private static readonly JsonSerializerOptions LineJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>One set; null when there is none.</summary>
    public async Task<EvalSetRow?> GetSetAsync(Guid setId, CancellationToken ct) =>
        (await ListSetsAsync(null, ct)).FirstOrDefault(s => s.Id == setId);

    /// <summary>
    /// The set of a prompt for the tenant (or the global one), created when missing. Two editors creating it at once
    /// get the same set: the unique (owner, name) index refuses the second insert, which then reads the first's row.
    /// </summary>
    public async Task<EvalSetRow> CreateSetAsync(string promptName, Guid? tenantId, string? description, CancellationToken ct)
    {
        var name = (promptName ?? "").Trim().ToLowerInvariant();
        await using (var db = dbFactory.ForSystem())
        {
            if (name != SupportSet && !await db.Prompts.AnyAsync(p => p.Name == name, ct))
            {
                throw new EvalException(EvalException.NotFound, $"There is no prompt named \"{promptName}\".");
            }

            if (tenantId is { } t && !await db.Tenants.AnyAsync(x => x.Id == t, ct))
            {
                throw new EvalException(EvalException.NotFound, "There is no such tenant.");
            }

            if (description is { Length: > 2000 })
            {
                throw new EvalException(EvalException.Invalid, "The description may have at most 2,000 characters.");
            }
        }

        var id = await EnsureSetAsync(dbFactory, name, tenantId, clock, description, ct);
        return (await GetSetAsync(id, ct))!;
    }

    /// <summary>
    /// The set of a feature (the label its calls carry) for the tenant (or the global one), created when missing: its
    /// examples are messages with expectations, run on an alias with no prompt version. Same race rule as prompt sets.
    /// </summary>
    public async Task<EvalSetRow> CreateFeatureSetAsync(string feature, Guid? tenantId, string? description, CancellationToken ct)
    {
        var label = (feature ?? "").Trim();
        if (!Keystone.Gateway.FeatureLabel.IsValid(label))
        {
            throw new EvalException(EvalException.Invalid, $"A feature label is {Keystone.Gateway.FeatureLabel.Rule}.");
        }

        if (label is EvalRunJob.Feature)
        {
            throw new EvalException(EvalException.Invalid, $"\"{label}\" is the label of the evals' own calls; choose a product feature.");
        }

        if (description is { Length: > 2000 })
        {
            throw new EvalException(EvalException.Invalid, "The description may have at most 2,000 characters.");
        }

        await using (var db = dbFactory.ForSystem())
        {
            if (tenantId is { } t && !await db.Tenants.AnyAsync(x => x.Id == t, ct))
            {
                throw new EvalException(EvalException.NotFound, "There is no such tenant.");
            }
        }

        var id = await EnsureSetAsync(dbFactory, EvalSet.FeatureSetName(label), tenantId, clock, description, ct);
        return (await GetSetAsync(id, ct))!;
    }

    /// <summary>
    /// Chooses the alias a feature's set is run on every night (null: stop running it nightly). One conditional update:
    /// the row changes only when the alias differs, and then its "since" moves, so the next done run on it is the new
    /// drift baseline; setting the same alias again keeps the baseline. Returns the alias before, and whether anything
    /// changed. The caller checks the alias is one the set's tenant may use.
    /// </summary>
    public async Task<(string? Before, bool Changed)> SetNightlyAliasAsync(Guid setId, string? alias, CancellationToken ct)
    {
        var value = string.IsNullOrWhiteSpace(alias) ? null : alias.Trim();
        if (value is { Length: > 128 })
        {
            throw new EvalException(EvalException.Invalid, "The alias may have at most 128 characters.");
        }

        await using var db = dbFactory.ForSystem();
        var set = await FindSetAsync(db, setId, ct);
        if (set.Feature is null)
        {
            throw new EvalException(EvalException.Invalid,
                "Only a feature's set takes a nightly alias: a prompt's set runs nightly on the version active for its owner, on that version's alias.");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var changed = await db.EvalSets.Where(s => s.Id == setId && s.NightlyAlias != value)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.NightlyAlias, value).SetProperty(s => s.NightlyAliasSinceUtc, value == null ? null : (DateTime?)now), ct);
        return (set.NightlyAlias, changed == 1);
    }

    /// <summary>Null when <paramref name="input"/> fits the set; a feature's set runs messages only (it has no prompt to render variables with).</summary>
    public static string? FitsSet(string setName, EvalExampleInput input) =>
        setName.StartsWith(EvalSet.FeaturePrefix, StringComparison.Ordinal) && input.Messages is not { Count: > 0 }
            ? "A feature's set runs the recorded conversation on an alias: give the example \"messages\" (it has no prompt to fill variables into)."
            : null;

    /// <summary>
    /// The id of the (owner, name) set, inserting it when missing; safe against a concurrent insert of the same set. Every
    /// writer of examples calls this (or writes into a set it read) first: listing sets adopts nothing, so an example
    /// without its set row stays hidden until <see cref="EvalSetAdoption"/> runs at the next start.
    /// </summary>
    public static async Task<Guid> EnsureSetAsync(KeystoneDbFactory dbFactory, string name, Guid? tenantId, TimeProvider clock, string? description, CancellationToken ct)
    {
        var owner = EvalSet.OwnerKeyOf(tenantId);
        await using (var read = dbFactory.ForSystem())
        {
            if (await read.EvalSets.AsNoTracking().Where(s => s.OwnerKey == owner && s.Name == name).Select(s => (Guid?)s.Id).FirstOrDefaultAsync(ct) is { } existing)
            {
                return existing;
            }
        }

        var set = new EvalSet
        {
            Id = Guid.NewGuid(), TenantId = tenantId, OwnerKey = owner, Name = name,
            PromptName = name == SupportSet || name.StartsWith(EvalSet.FeaturePrefix, StringComparison.Ordinal) ? null : name,
            Feature = name.StartsWith(EvalSet.FeaturePrefix, StringComparison.Ordinal) ? name[EvalSet.FeaturePrefix.Length..] : null,
            Description = description, CreatedUtc = clock.GetUtcNow().UtcDateTime,
        };
        try
        {
            await using var db = dbFactory.ForSystem();
            db.EvalSets.Add(set);
            await db.SaveChangesAsync(ct);
            return set.Id;
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            await using var again = dbFactory.ForSystem();
            return await again.EvalSets.AsNoTracking().Where(s => s.OwnerKey == owner && s.Name == name).Select(s => s.Id).SingleAsync(ct);
        }
    }

    /// <summary>The set's examples, oldest first.</summary>
    public async Task<IReadOnlyList<EvalExampleRow>> ListExamplesAsync(Guid setId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var set = await FindSetAsync(db, setId, ct);
        var rows = await db.EvalExamples.AsNoTracking().Where(e => e.TenantId == set.TenantId && e.EvalSet == set.Name)
            .OrderBy(e => e.CreatedUtc).ThenBy(e => e.Id).ToListAsync(ct);
        return rows.Select(ToRow).ToList();
    }

    /// <summary>Adds one example to the set.</summary>
    public async Task<EvalExampleRow> AddExampleAsync(Guid setId, EvalExampleInput input, string userId, CancellationToken ct)
    {
        if (EvalExampleValidation.Validate(input) is { } error)
        {
            throw new EvalException(EvalException.Invalid, error);
        }

        await using var db = dbFactory.ForSystem();
        var set = await FindSetAsync(db, setId, ct);
        if (FitsSet(set.Name, input) is { } misfit)
        {
            throw new EvalException(EvalException.Invalid, misfit);
        }

        var example = NewExample(set, input, userId);
        db.EvalExamples.Add(example);
        await db.SaveChangesAsync(ct);
        return ToRow(example);
    }

    /// <summary>Replaces an example's content; refused when someone changed or deleted it since <paramref name="version"/> was read.</summary>
    public async Task<EvalExampleRow> UpdateExampleAsync(Guid exampleId, Guid version, EvalExampleInput input, CancellationToken ct)
    {
        if (EvalExampleValidation.Validate(input) is { } error)
        {
            throw new EvalException(EvalException.Invalid, error);
        }

        await using var db = dbFactory.ForSystem();
        var example = await db.EvalExamples.SingleOrDefaultAsync(e => e.Id == exampleId, ct)
            ?? throw new EvalException(EvalException.Conflict, "This example was deleted meanwhile.");
        if (example.Version != version)
        {
            throw new EvalException(EvalException.Conflict, "Someone else changed this example meanwhile; reload it and edit again.");
        }

        if (FitsSet(example.EvalSet, input) is { } misfit)
        {
            throw new EvalException(EvalException.Invalid, misfit);
        }

        Apply(example, input);
        example.Version = Guid.NewGuid();
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new EvalException(EvalException.Conflict, "Someone else changed this example meanwhile; reload it and edit again.");
        }

        return ToRow(example);
    }

    /// <summary>Deletes an example; true when it was there (a second delete is not an error, just nothing to do).</summary>
    public async Task<bool> DeleteExampleAsync(Guid exampleId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return await db.EvalExamples.Where(e => e.Id == exampleId).ExecuteDeleteAsync(ct) > 0;
    }

    /// <summary>
    /// Imports JSONL: one example per line (<c>{"variables": {...}}</c> or <c>{"messages": [...]}</c>, with
    /// <c>"expected"</c>, <c>"expectations"</c>, <c>"notes"</c>); blank lines are skipped. All or nothing: a file with
    /// a bad line adds none and names every bad line, so importing the fixed file again makes no duplicates.
    /// </summary>
    public async Task<EvalImportResult> ImportJsonlAsync(Guid setId, string text, string userId, CancellationToken ct)
    {
        var lines = (text ?? "").Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        string? setName;
        await using (var read = dbFactory.ForSystem())
        {
            setName = (await FindSetAsync(read, setId, ct)).Name;
        }

        if (lines.Length > MaxImportLines)
        {
            return new EvalImportResult(0, [new EvalImportError(MaxImportLines + 1, $"A file may have at most {MaxImportLines:N0} lines; split it.")]);
        }

        var inputs = new List<EvalExampleInput>();
        var errors = new List<EvalImportError>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i]))
            {
                continue;
            }

            var (input, error) = ParseLine(lines[i]);
            if (error is null && EvalExampleValidation.Validate(input!) is { } invalid)
            {
                error = invalid;
            }

            if (error is null && setName is not null && FitsSet(setName, input!) is { } misfit)
            {
                error = misfit;
            }

            if (error is not null)
            {
                errors.Add(new EvalImportError(i + 1, error));
            }
            else
            {
                inputs.Add(input!);
            }
        }

        if (errors.Count > 0)
        {
            return new EvalImportResult(0, errors);
        }

        if (inputs.Count == 0)
        {
            return new EvalImportResult(0, [new EvalImportError(1, "The file has no examples.")]);
        }

        await using var db = dbFactory.ForSystem();
        var set = await FindSetAsync(db, setId, ct);
        // One SaveChanges is one transaction: every line lands or none does.
        // Each line a microsecond after the one before it (the precision both databases keep), so the set lists the file's order.
        db.EvalExamples.AddRange(inputs.Select((input, i) =>
        {
            var example = NewExample(set, input, userId);
            example.CreatedUtc = example.CreatedUtc.AddTicks(i * TimeSpan.TicksPerMicrosecond);
            return example;
        }));
        await db.SaveChangesAsync(ct);
        return new EvalImportResult(inputs.Count, []);
    }

    /// <summary>One JSONL line as an example; or why it is not one.</summary>
    public static (EvalExampleInput? Input, string? Error) ParseLine(string line)
    {
        try
        {
            var parsed = JsonSerializer.Deserialize<JsonlLine>(line, Json);
            if (parsed is null)
            {
                return (null, "The line is not a JSON object.");
            }

            return (new EvalExampleInput(parsed.Variables, parsed.Messages, parsed.Expected, parsed.Expectations, parsed.Notes), null);
        }
        catch (JsonException ex)
        {
            return (null, $"Not valid JSON for an example: {ex.Message.Split(". ", 2)[0]}.");
        }
    }

    /// <summary>The content of a stored example.</summary>
    public static EvalExampleInput InputOf(EvalExample e)
    {
        EvalInputJson? input = null;
        try
        {
            input = JsonSerializer.Deserialize<EvalInputJson>(e.InputJson, Json);
        }
        catch (JsonException)
        {
            // A row written by hand with broken JSON shows as an example without input; validation refuses to save it unchanged.
        }

        List<EvalExpectation>? expectations = null;
        if (!string.IsNullOrEmpty(e.ExpectationsJson))
        {
            try
            {
                expectations = JsonSerializer.Deserialize<List<EvalExpectation>>(e.ExpectationsJson, Json);
            }
            catch (JsonException)
            {
                expectations = null;
            }
        }

        return new EvalExampleInput(input?.Variables, input?.Messages, string.IsNullOrEmpty(e.ExpectedOutput) ? null : e.ExpectedOutput, expectations, e.Notes);
    }

    private static EvalExampleRow ToRow(EvalExample e) => new(e.Id, e.Version, InputOf(e), e.SourceCallId, e.CreatedByUserId, e.CreatedUtc);

    private EvalExample NewExample(EvalSet set, EvalExampleInput input, string userId) => NewExample(set, input, userId, clock.GetUtcNow().UtcDateTime);

    /// <summary>A new example row of <paramref name="set"/> (not yet added to a context).</summary>
    public static EvalExample NewExample(EvalSet set, EvalExampleInput input, string userId, DateTime createdUtc)
    {
        var example = new EvalExample
        {
            Id = Guid.NewGuid(), Version = Guid.NewGuid(), TenantId = set.TenantId, EvalSet = set.Name, PromptName = set.PromptName,
            CreatedByUserId = userId.Length > 64 ? userId[..64] : userId, CreatedUtc = createdUtc,
        };
        Apply(example, input);
        return example;
    }

    private static void Apply(EvalExample e, EvalExampleInput input)
    {
        e.InputJson = JsonSerializer.Serialize(new EvalInputJson(
            input.Variables is { Count: > 0 } v ? new Dictionary<string, string>(v) : null,
            input.Messages is { Count: > 0 } m ? m.ToList() : null), Json);
        e.ExpectedOutput = input.Expected ?? "";
        e.ExpectationsJson = input.Expectations is { Count: > 0 } x ? JsonSerializer.Serialize(x, Json) : null;
        e.Notes = string.IsNullOrWhiteSpace(input.Notes) ? null : input.Notes.Trim();
    }

    private static async Task<EvalSet> FindSetAsync(KeystoneDbContext db, Guid setId, CancellationToken ct) =>
        await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == setId, ct)
        ?? throw new EvalException(EvalException.NotFound, "There is no such eval set (it may have been deleted).");

    private sealed record JsonlLine(
        Dictionary<string, string>? Variables,
        List<EvalMessage>? Messages,
        string? Expected,
        List<EvalExpectation>? Expectations,
        string? Notes);
}
