using Keystone.Data;
using Keystone.Data.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Prompts;

/// <summary>What the last import found: versions added, files whose version exists with other content, files that could not be read.</summary>
internal sealed record PromptImportReport(IReadOnlyList<string> Imported, IReadOnlyList<string> Conflicts, IReadOnlyList<string> Errors)
{
    public static readonly PromptImportReport Empty = new([], [], []);
}

/// <summary>The last import's report, for the prompt pages (one per process).</summary>
internal sealed class PromptImportStatus
{
    private volatile PromptImportReport _last = PromptImportReport.Empty;

    public PromptImportReport Last { get => _last; set => _last = value; }
}

/// <summary>
/// Imports <c>prompts/&lt;name&gt;/v&lt;n&gt;.md</c>: a file whose version is not in the database becomes that immutable version
/// (the prompt is created when new); a file whose version exists with the same content is already in; one with other
/// content is a conflict, logged and shown on the page, never applied (the database's version is what calls used). A
/// file that cannot be read fails alone, named with its line. Idempotent: a second run imports nothing.
/// </summary>
internal sealed class PromptFileImporter(KeystoneDbFactory dbFactory, IOptions<PromptFilesOptions> options, PromptImportStatus status, TimeProvider clock,
    ILogger<PromptFileImporter> log)
{
    /// <summary>Who imported versions are recorded as.</summary>
    public const string ImportUser = "prompt-files";

    public async Task<PromptImportReport> ImportAsync(CancellationToken ct)
    {
        var root = options.Value.ResolvedDirectory;
        if (root is null || !Directory.Exists(root))
        {
            return PromptImportReport.Empty;
        }

        var imported = new List<string>();
        var conflicts = new List<string>();
        var errors = new List<string>();
        foreach (var folder in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(folder);
            if (!PromptCatalog.IsValidName(name))
            {
                errors.Add($"{Relative(root, folder)}: '{name}' is not a prompt name (lower-case letters, digits and single dashes).");
                continue;
            }

            var files = new List<PromptFile>();
            foreach (var path in Directory.EnumerateFiles(folder, "*.md").Order(StringComparer.Ordinal))
            {
                var relative = Relative(root, path);
                if (PromptFileFormat.NumberOf(Path.GetFileName(path)) is not { } number)
                {
                    errors.Add($"{relative}:1: the file name must be v<number>.md (for example v3.md).");
                    continue;
                }

                try
                {
                    files.Add(PromptFileFormat.Parse(relative, name, number, await File.ReadAllTextAsync(path, ct)));
                }
                catch (PromptFileException ex)
                {
                    errors.Add(ex.Message);
                }
            }

            foreach (var file in files.OrderBy(f => f.Number))
            {
                var relative = $"{name}/{PromptFileFormat.FileName(file.Number)}";
                switch (await ImportOneAsync(file, ct))
                {
                    case Outcome.Imported:
                        imported.Add(relative);
                        break;
                    case Outcome.Conflict:
                        conflicts.Add($"{relative}: version {file.Number} of '{name}' exists with other content; the file was not applied (save the change as a new version file).");
                        break;
                }
            }
        }

        foreach (var line in imported)
        {
            log.LogInformation("Imported prompt version {File}", line);
        }

        foreach (var line in conflicts)
        {
            log.LogWarning("Prompt file conflict: {Conflict}", line);
        }

        foreach (var line in errors)
        {
            log.LogError("Prompt file not imported: {Error}", line);
        }

        var report = new PromptImportReport(imported, conflicts, errors);
        status.Last = report;
        return report;
    }

    private async Task<Outcome> ImportOneAsync(PromptFile file, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var db = dbFactory.ForSystem();
            var now = clock.GetUtcNow().UtcDateTime;
            var prompt = await db.Prompts.SingleOrDefaultAsync(p => p.Name == file.Name, ct);
            if (prompt is null)
            {
                prompt = new Prompt { Id = Guid.NewGuid(), Name = file.Name, Description = file.Description, CreatedUtc = now };
                db.Prompts.Add(prompt);
            }

            var existing = await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.PromptId == prompt.Id && v.Number == file.Number, ct);
            if (existing is not null)
            {
                return file.SameContentAs(existing) ? Outcome.Present : Outcome.Conflict;
            }

            if (prompt.SampleVariables is null && file.Variables.Count > 0)
            {
                // The file's declared variables become the prompt's samples (to fill in), so the editor checks against them.
                prompt.SampleVariables = System.Text.Json.JsonSerializer.Serialize(file.Variables.ToDictionary(v => v, _ => ""));
            }

            db.PromptVersions.Add(new PromptVersion
            {
                Id = Guid.NewGuid(),
                PromptId = prompt.Id,
                Number = file.Number,
                SystemTemplate = file.SystemTemplate,
                UserTemplate = file.UserTemplate,
                ModelAlias = file.ModelAlias,
                Temperature = file.Temperature,
                MaxTokens = file.MaxTokens,
                ResponseSchema = file.ResponseSchema,
                Note = file.Note,
                CreatedByUserId = ImportUser,
                CreatedByName = $"prompts/{file.Name}/{PromptFileFormat.FileName(file.Number)}",
                CreatedUtc = now,
            });
            try
            {
                await db.SaveChangesAsync(ct);
                return Outcome.Imported;
            }
            catch (DbUpdateException) when (attempt < 3)
            {
                // Another instance imported the same prompt or version at the same moment (unique indexes): look again.
            }
        }
    }

    private static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');

    private enum Outcome
    {
        Present,
        Imported,
        Conflict,
    }
}

/// <summary>Imports the prompt files at start, after the database start-up (hosted services start in registration order).</summary>
internal sealed class PromptFilesStartup(IServiceProvider services) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var importer = services.GetRequiredService<PromptFileImporter>();
        try
        {
            await importer.ImportAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is Microsoft.EntityFrameworkCore.DbUpdateException or System.Data.Common.DbException or IOException)
        {
            // A database that is not migrated yet (PostgreSQL before --migrate) or an unreadable folder must not stop the
            // console from starting: the log says why, and the next start imports what is missing.
            services.GetRequiredService<ILogger<PromptFilesStartup>>().LogError(ex, "The prompt files were not imported");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
