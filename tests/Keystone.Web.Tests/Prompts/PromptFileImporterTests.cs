using Keystone.Data;
using Keystone.Testing;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Prompts;

/// <summary>Importing prompt files on one database; run on SQLite and on PostgreSQL by the two subclasses below.</summary>
public abstract class PromptFileImporterTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "keystone-prompt-files", Guid.NewGuid().ToString("N"));
    private IAsyncDisposable? _database;
    private KeystoneDbFactory _factory = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, _factory) = await CreateDatabaseAsync();
        Directory.CreateDirectory(_root);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    private PromptFileImporter Importer(PromptImportStatus? status = null) => new(_factory,
        Options.Create(new PromptFilesOptions { FilesDirectory = _root }), status ?? new PromptImportStatus(), TimeProvider.System, NullLogger<PromptFileImporter>.Instance);

    private void WriteFile(string name, int number, string user, string alias = "smart")
    {
        Directory.CreateDirectory(Path.Combine(_root, name));
        File.WriteAllText(Path.Combine(_root, name, $"v{number}.md"),
            $"---\ndescription: {name} prompt\nalias: {alias}\nvariables: question\n---\n<!-- system -->\nBe brief.\n\n<!-- user -->\n{user}\n");
    }

    [Fact]
    public async Task Import_NewFiles_CreateThePromptAndItsVersionsOnceOnly()
    {
        WriteFile("reply", 1, "{{question}}");
        WriteFile("reply", 2, "Q: {{question}}");

        var first = await Importer().ImportAsync(CancellationToken.None);
        var second = await Importer().ImportAsync(CancellationToken.None);

        Assert.Equal(["reply/v1.md", "reply/v2.md"], first.Imported);
        Assert.Empty(second.Imported);
        Assert.Empty(second.Conflicts);
        await using var db = _factory.ForSystem();
        var prompt = await db.Prompts.AsNoTracking().SingleAsync(p => p.Name == "reply");
        Assert.Equal("reply prompt", prompt.Description);
        Assert.Equal(["question"], PromptCatalog.SamplesOf(prompt).Keys);
        var versions = await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id).OrderBy(v => v.Number).ToListAsync();
        Assert.Equal([1, 2], versions.Select(v => v.Number));
        Assert.Equal("Q: {{question}}", versions[1].UserTemplate);
        Assert.Equal(PromptFileImporter.ImportUser, versions[1].CreatedByUserId);
    }

    [Fact]
    public async Task Import_ChangedFileOfAnExistingVersion_IsAConflictAndNotApplied()
    {
        WriteFile("reply", 1, "{{question}}");
        await Importer().ImportAsync(CancellationToken.None);
        WriteFile("reply", 1, "Changed: {{question}}");
        var status = new PromptImportStatus();

        var report = await Importer(status).ImportAsync(CancellationToken.None);

        Assert.Empty(report.Imported);
        Assert.StartsWith("reply/v1.md: version 1 of 'reply' exists with other content", Assert.Single(report.Conflicts), StringComparison.Ordinal);
        Assert.Same(report, status.Last);
        await using var db = _factory.ForSystem();
        Assert.Equal("{{question}}", (await db.PromptVersions.AsNoTracking().SingleAsync()).UserTemplate);
    }

    [Fact]
    public async Task Import_OneMalformedFile_FailsAloneWithItsPathAndLine()
    {
        WriteFile("reply", 1, "{{question}}");
        WriteFile("other", 1, "{{question}}");
        File.WriteAllText(Path.Combine(_root, "reply", "v2.md"), "---\nalias: smart\nmax_tokens: lots\n---\n<!-- user -->\nx\n");

        var report = await Importer().ImportAsync(CancellationToken.None);

        Assert.Equal(["other/v1.md", "reply/v1.md"], report.Imported);
        Assert.Equal("reply/v2.md:3: max_tokens 'lots' is not a whole number.", Assert.Single(report.Errors));
    }

    [Fact]
    public async Task Import_NextVersionFileAfterConsoleVersions_KeepsItsNumberAndTheExportMatchesTheFiles()
    {
        WriteFile("reply", 1, "{{question}}");
        await Importer().ImportAsync(CancellationToken.None);
        WriteFile("reply", 2, "v2 {{question}}", alias: "fast");

        var report = await Importer().ImportAsync(CancellationToken.None);
        var exportDir = Path.Combine(_root, "..", Guid.NewGuid().ToString("N"));
        var written = await new PromptFileExporter(_factory).ExportAsync(exportDir, CancellationToken.None);
        var reimport = await new PromptFileImporter(_factory, Options.Create(new PromptFilesOptions { FilesDirectory = exportDir }), new PromptImportStatus(),
            TimeProvider.System, NullLogger<PromptFileImporter>.Instance).ImportAsync(CancellationToken.None);

        Assert.Equal(["reply/v2.md"], report.Imported);
        Assert.Equal(2, written);
        Assert.Empty(reimport.Imported);
        Assert.Empty(reimport.Conflicts);
        Assert.Empty(reimport.Errors);
        Directory.Delete(exportDir, recursive: true);
    }
}

public sealed class SqlitePromptFileImporterTests : PromptFileImporterTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresPromptFileImporterTests : PromptFileImporterTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
