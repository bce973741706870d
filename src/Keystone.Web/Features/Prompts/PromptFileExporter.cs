using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// Writes every prompt version in the file format (<see cref="PromptFileFormat"/>), so versions made in the console can
/// be committed to the repository's <c>prompts/</c> folder: <c>--export-prompts DIR</c>, and the page's download.
/// </summary>
internal sealed class PromptFileExporter(KeystoneDbFactory dbFactory)
{
    /// <summary>Writes <c>DIR/&lt;name&gt;/v&lt;n&gt;.md</c> for every version; returns how many files were written.</summary>
    public async Task<int> ExportAsync(string directory, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var prompts = await db.Prompts.AsNoTracking().ToListAsync(ct);
        var versions = await db.PromptVersions.AsNoTracking().ToListAsync(ct);
        var written = 0;
        foreach (var prompt in prompts)
        {
            var folder = Path.Combine(directory, prompt.Name);
            Directory.CreateDirectory(folder);
            var declared = PromptCatalog.SamplesOf(prompt).Keys.Order(StringComparer.Ordinal).ToList();
            foreach (var version in versions.Where(v => v.PromptId == prompt.Id))
            {
                await File.WriteAllTextAsync(Path.Combine(folder, PromptFileFormat.FileName(version.Number)), PromptFileFormat.Write(prompt, version, declared), ct);
                written++;
            }
        }

        return written;
    }
}

/// <summary>The prompts feature's command line: <c>--export-prompts DIR</c> writes every version as files and exits.</summary>
internal static class PromptsCommands
{
    /// <summary>Runs the command when <paramref name="args"/> asks for it; true when it ran (the host then exits).</summary>
    public static async Task<bool> RunPromptsCommandAsync(this WebApplication app, string[] args)
    {
        var at = Array.IndexOf(args, "--export-prompts");
        if (at < 0)
        {
            return false;
        }

        if (at + 1 >= args.Length || args[at + 1].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("--export-prompts needs a folder: --export-prompts ./prompts");
            Environment.ExitCode = 2;
            return true;
        }

        var directory = Path.GetFullPath(args[at + 1]);
        try
        {
            var written = await new PromptFileExporter(app.Services.GetRequiredService<KeystoneDbFactory>()).ExportAsync(directory, CancellationToken.None);
            Console.WriteLine($"Exported {written} prompt version file(s) to {directory}.");
        }
        catch (System.Data.Common.DbException ex)
        {
            // Plain words for the usual cause: the command reads the database as it is, it does not migrate it.
            Console.Error.WriteLine($"The prompts could not be read (is the database migrated and reachable?): {ex.Message}");
            Environment.ExitCode = 1;
        }

        return true;
    }
}
