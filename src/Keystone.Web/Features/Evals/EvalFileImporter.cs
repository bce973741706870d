using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>What one start's eval file import did: sets created, and files refused (path:line and why).</summary>
internal sealed record EvalFileImportResult(IReadOnlyList<string> Imported, IReadOnlyList<string> Errors);

/// <summary>
/// Eval sets kept in the repository: <c>prompts/&lt;name&gt;/eval.jsonl</c> (the JSONL the console imports) seeds the
/// prompt's global set at start when that set does not exist yet. From then on the console owns the set: a later
/// start never adds, changes or duplicates its examples. A file with a bad line seeds nothing and is logged with the
/// line. The set and its examples are written in one transaction, so a second instance starting at the same time
/// loses on the set's unique index and writes nothing.
/// </summary>
internal sealed class EvalFileImporter(KeystoneDbFactory dbFactory, IOptions<PromptFilesOptions> options, TimeProvider clock, ILogger<EvalFileImporter> logger)
{
    public const string FileName = "eval.jsonl";

    public async Task<EvalFileImportResult> ImportAsync(CancellationToken ct)
    {
        var root = options.Value.ResolvedDirectory;
        if (root is null || !Directory.Exists(root))
        {
            return new EvalFileImportResult([], []);
        }

        var imported = new List<string>();
        var errors = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, FileName, SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(Path.GetDirectoryName(file))!.ToLowerInvariant();
            var shown = $"{name}/{FileName}";
            await using var db = dbFactory.ForSystem();
            if (!await db.Prompts.AnyAsync(p => p.Name == name, ct))
            {
                errors.Add($"{shown}: there is no prompt named \"{name}\".");
                continue;
            }

            var owner = EvalSet.OwnerKeyOf(null);
            if (await db.EvalSets.AnyAsync(s => s.OwnerKey == owner && s.Name == name, ct))
            {
                continue;
            }

            var lines = await File.ReadAllLinesAsync(file, ct);
            var inputs = new List<EvalExampleInput>();
            var bad = new List<string>();
            for (var i = 0; i < lines.Length; i++)
            {
                if (string.IsNullOrWhiteSpace(lines[i]))
                {
                    continue;
                }

                var (input, error) = EvalSetStore.ParseLine(lines[i]);
                error ??= EvalExampleValidation.Validate(input!);
                if (error is null)
                {
                    inputs.Add(input!);
                }
                else
                {
                    bad.Add($"{shown}:{i + 1}: {error}");
                }
            }

            if (bad.Count > 0 || inputs.Count == 0)
            {
                errors.AddRange(bad.Count > 0 ? bad : [$"{shown}: the file has no examples."]);
                continue;
            }

            var now = clock.GetUtcNow().UtcDateTime;
            var set = new EvalSet { Id = Guid.NewGuid(), OwnerKey = owner, Name = name, PromptName = name, Description = $"From {shown}.", CreatedUtc = now };
            db.EvalSets.Add(set);
            db.EvalExamples.AddRange(inputs.Select((input, i) => EvalSetStore.NewExample(set, input, "file", now.AddTicks(i * TimeSpan.TicksPerMicrosecond))));
            try
            {
                await db.SaveChangesAsync(ct);
                imported.Add(shown);
            }
            catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
            {
                // Another instance seeded the set first; its examples are the file's, nothing is missing.
            }
        }

        foreach (var error in errors)
        {
            logger.LogWarning("Eval file not imported: {Error}", error);
        }

        return new EvalFileImportResult(imported, errors);
    }
}

/// <summary>Runs the eval file import at start, after the prompt files (registered after them), without stopping the start on a failure.</summary>
internal sealed class EvalFilesStartup(IServiceProvider services) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await services.GetRequiredService<EvalFileImporter>().ImportAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is DbUpdateException or System.Data.Common.DbException or IOException)
        {
            // Like the prompt files: a database not migrated yet or an unreadable folder is logged, the next start imports.
            services.GetRequiredService<ILogger<EvalFilesStartup>>().LogError(ex, "The eval files were not imported");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
