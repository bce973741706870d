using Keystone.Data;
using Keystone.Data.Prompts;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Evals;

/// <summary><c>prompts/&lt;name&gt;/eval.jsonl</c> seeding a prompt's global set on one database; SQLite and PostgreSQL below.</summary>
public abstract class EvalFileImporterTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "keystone-eval-files", Guid.NewGuid().ToString("N"));
    private IAsyncDisposable? _database;
    private KeystoneDbFactory _factory = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, _factory) = await CreateDatabaseAsync();
        await using var db = _factory.ForSystem();
        db.Prompts.Add(new Prompt { Id = Guid.NewGuid(), Name = "reply", CreatedUtc = T0 });
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private EvalFileImporter Importer => new(_factory, Options.Create(new PromptFilesOptions { FilesDirectory = _root }), TimeProvider.System,
        NullLogger<EvalFileImporter>.Instance);

    private void Write(string prompt, params string[] lines)
    {
        Directory.CreateDirectory(Path.Combine(_root, prompt));
        File.WriteAllLines(Path.Combine(_root, prompt, EvalFileImporter.FileName), lines);
    }

    [Fact]
    public async Task Import_SeedsTheGlobalSetOnce_ALaterStartLeavesTheConsolesEditsAlone()
    {
        Write("reply", """{"variables": {"q": "a"}, "expected": "A"}""", "", """{"variables": {"q": "b"}, "expected": "B"}""");

        var first = await Importer.ImportAsync(CancellationToken.None);
        var store = new EvalSetStore(_factory, TimeProvider.System);
        var set = Assert.Single(await store.ListSetsAsync("reply", CancellationToken.None));
        var examples = await store.ListExamplesAsync(set.Id, CancellationToken.None);
        await store.DeleteExampleAsync(examples[0].Id, CancellationToken.None);
        var second = await Importer.ImportAsync(CancellationToken.None);

        Assert.Equal(["reply/eval.jsonl"], first.Imported);
        Assert.Null(set.TenantId);
        Assert.Equal(["a", "b"], examples.Select(e => e.Input.Variables!["q"]));
        Assert.Empty(second.Imported);
        Assert.Equal(["b"], (await store.ListExamplesAsync(set.Id, CancellationToken.None)).Select(e => e.Input.Variables!["q"]));
    }

    [Fact]
    public async Task Import_BadLineOrUnknownPrompt_SeedsNothingAndNamesFileAndLine()
    {
        Write("reply", """{"variables": {"q": "a"}, "expected": "A"}""", """{"variables": {"q": "b"}}""");
        Write("nobody", """{"variables": {"q": "a"}, "expected": "A"}""");

        var result = await Importer.ImportAsync(CancellationToken.None);

        Assert.Empty(result.Imported);
        Assert.Contains(result.Errors, e => e.StartsWith("reply/eval.jsonl:2:", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("nobody/eval.jsonl:", StringComparison.Ordinal));
        await using var db = _factory.ForSystem();
        Assert.False(await db.EvalSets.AnyAsync());
        Assert.False(await db.EvalExamples.AnyAsync());
    }
}

public sealed class SqliteEvalFileImporterTests : EvalFileImporterTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresEvalFileImporterTests : EvalFileImporterTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
