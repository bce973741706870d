using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Data.Prompts;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Evals;

/// <summary>Eval sets and examples on one database; run on SQLite and on PostgreSQL by the two subclasses below.</summary>
public abstract class EvalSetStoreTests : IAsyncLifetime
{
    private IAsyncDisposable? _database;
    private KeystoneDbFactory _factory = default!;
    private readonly FakeTimeProvider _clock = new(T0);

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    private EvalSetStore Store => new(_factory, _clock);

    public async Task InitializeAsync()
    {
        (_database, _factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(_factory);
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
    }

    private static EvalExampleInput Example(string question, string expected = "Yes.") =>
        new(new Dictionary<string, string> { ["question"] = question }, null, expected, [new EvalExpectation(EvalExpectation.Contains, "Yes")], null);

    [Fact]
    public async Task CreateSet_GlobalAndOverrideConcurrently_OneSetPerOwnerAndTheSecondCreateGetsTheFirst()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Store.CreateSetAsync("Reply", i % 2 == 0 ? null : Acme, null, CancellationToken.None)));

        await using var db = _factory.ForSystem();
        var sets = await db.EvalSets.AsNoTracking().OrderBy(s => s.OwnerKey).ToListAsync();
        Assert.Equal(2, sets.Count);
        Assert.Equal([Acme.ToString("D"), "global"], sets.Select(s => s.OwnerKey));
        Assert.All(sets, s => Assert.Equal("reply", s.PromptName));
        Assert.Equal(2, results.Select(r => r.Id).Distinct().Count());
        Assert.Equal(["Global", "Acme"], (await Store.ListSetsAsync("reply", CancellationToken.None)).Select(s => s.Owner));
    }

    [Fact]
    public async Task CreateSet_UnknownPromptOrTenant_IsRefusedAndWritesNothing()
    {
        var noPrompt = await Assert.ThrowsAsync<EvalException>(() => Store.CreateSetAsync("nope", null, null, CancellationToken.None));
        var noTenant = await Assert.ThrowsAsync<EvalException>(() => Store.CreateSetAsync("reply", Guid.NewGuid(), null, CancellationToken.None));

        Assert.Equal(EvalException.NotFound, noPrompt.Code);
        Assert.Equal(EvalException.NotFound, noTenant.Code);
        await using var db = _factory.ForSystem();
        Assert.False(await db.EvalSets.AnyAsync());
    }

    [Fact]
    public async Task Examples_AddEditDelete_RoundTripAndAStaleEditIsRefused()
    {
        var set = await Store.CreateSetAsync("reply", null, null, CancellationToken.None);
        var added = await Store.AddExampleAsync(set.Id, Example("Is it open?"), "editor-1", CancellationToken.None);

        var edited = await Store.UpdateExampleAsync(added.Id, added.Version, Example("Is it open today?", "Yes, until 6."), CancellationToken.None);
        var stale = await Assert.ThrowsAsync<EvalException>(() =>
            Store.UpdateExampleAsync(added.Id, added.Version, Example("Lost update"), CancellationToken.None));

        Assert.Equal(EvalException.Conflict, stale.Code);
        var listed = Assert.Single(await Store.ListExamplesAsync(set.Id, CancellationToken.None));
        Assert.Equal("Is it open today?", listed.Input.Variables!["question"]);
        Assert.Equal("Yes, until 6.", listed.Input.Expected);
        Assert.Equal(edited.Version, listed.Version);
        Assert.Equal(EvalExpectation.Contains, Assert.Single(listed.Input.Expectations!).Kind);

        Assert.True(await Store.DeleteExampleAsync(added.Id, CancellationToken.None));
        Assert.False(await Store.DeleteExampleAsync(added.Id, CancellationToken.None));
        Assert.Empty(await Store.ListExamplesAsync(set.Id, CancellationToken.None));
        var afterDelete = await Assert.ThrowsAsync<EvalException>(() =>
            Store.UpdateExampleAsync(added.Id, edited.Version, Example("Too late"), CancellationToken.None));
        Assert.Equal(EvalException.Conflict, afterDelete.Code);
    }

    [Fact]
    public async Task Import_FileWithBadLines_ImportsNothingAndNamesEachBadLine_ThenTheFixedFileImportsEveryLine()
    {
        var set = await Store.CreateSetAsync("reply", Acme, null, CancellationToken.None);
        var bad = string.Join("\n",
            """{"variables": {"question": "Q1"}, "expected": "A1"}""",
            "",
            """{"variables": {"question": "Q2"}""",
            """{"messages": [{"role": "robot", "content": "hi"}], "expected": "x"}""",
            """{"variables": {"question": "Q4"}, "expectations": [{"kind": "regex", "value": "("}]}""",
            """{"variables": {"question": "Q5"}}""");

        var refused = await Store.ImportJsonlAsync(set.Id, bad, "editor-1", CancellationToken.None);

        Assert.Equal(0, refused.Imported);
        Assert.Equal([3, 4, 5, 6], refused.Errors.Select(e => e.Line));
        Assert.Contains("role", refused.Errors[1].Message, StringComparison.Ordinal);
        Assert.Contains("pattern", refused.Errors[2].Message, StringComparison.Ordinal);
        Assert.Empty(await Store.ListExamplesAsync(set.Id, CancellationToken.None));

        var good = string.Join("\r\n",
            """{"variables": {"question": "Q1"}, "expected": "A1"}""",
            """{"messages": [{"role": "user", "content": "Q2"}], "expectations": [{"kind": "json_schema", "value": "{\"type\": \"object\"}"}]}""");
        var imported = await Store.ImportJsonlAsync(set.Id, good, "editor-1", CancellationToken.None);

        Assert.Equal(2, imported.Imported);
        Assert.Empty(imported.Errors);
        Assert.Equal(["Q1", null], (await Store.ListExamplesAsync(set.Id, CancellationToken.None)).Select(e => e.Input.Variables?["question"]));
    }

    [Fact]
    public async Task TenantSetExamples_AreTheTenantsRows_OtherTenantsAndTheGlobalSetAreNotVisibleInItsScope()
    {
        var global = await Store.CreateSetAsync("reply", null, null, CancellationToken.None);
        var acme = await Store.CreateSetAsync("reply", Acme, null, CancellationToken.None);
        await Store.AddExampleAsync(global.Id, Example("global"), "editor-1", CancellationToken.None);
        await Store.AddExampleAsync(acme.Id, Example("acme"), "editor-1", CancellationToken.None);

        await using var acmeDb = _factory.ForTenant(Acme);
        await using var globexDb = _factory.ForTenant(Globex);
        Assert.Equal([Acme], await acmeDb.EvalExamples.Select(e => e.TenantId).ToListAsync());
        Assert.Equal([Acme], await acmeDb.EvalSets.Select(s => s.TenantId).ToListAsync());
        Assert.Empty(await globexDb.EvalExamples.ToListAsync());
        Assert.Empty(await globexDb.EvalSets.ToListAsync());
    }

    /// <summary>An example row as one saved before eval sets existed: its set named, no set row.</summary>
    private async Task AddExampleWithoutSetAsync(Guid? tenantId, string evalSet)
    {
        await using var db = _factory.ForSystem();
        db.EvalExamples.Add(new EvalExample
        {
            Id = Guid.NewGuid(), TenantId = tenantId, EvalSet = evalSet, InputJson = """{"messages":[{"role":"user","content":"hi"}]}""",
            ExpectedOutput = "hello", CreatedByUserId = "support", CreatedUtc = T0,
        });
        await db.SaveChangesAsync();
    }

    private EvalSetAdoption Adoption => new(_factory, _clock, NullLogger<EvalSetAdoption>.Instance);

    [Fact]
    public async Task Adoption_AtStart_ExamplesSavedBeforeSetsExisted_GetTheirSetAndAreCounted_AndASecondStartAdoptsNothing()
    {
        await AddExampleWithoutSetAsync(Acme, EvalSetStore.SupportSet);
        await AddExampleWithoutSetAsync(Acme, EvalSetStore.SupportSet);
        await AddExampleWithoutSetAsync(null, "reply");
        var existing = await Store.CreateSetAsync("reply", Acme, null, CancellationToken.None);
        await Store.AddExampleAsync(existing.Id, Example("has its set"), "editor-1", CancellationToken.None);

        await Adoption.StartAsync(CancellationToken.None);
        var again = await Adoption.AdoptAsync(CancellationToken.None);

        var sets = await Store.ListSetsAsync(null, CancellationToken.None);
        Assert.Equal(3, sets.Count);
        var support = Assert.Single(sets, s => s.Name == EvalSetStore.SupportSet);
        Assert.Equal(((Guid?)Acme, 2, (string?)null), (support.TenantId, support.Examples, support.PromptName));
        var global = Assert.Single(sets, s => s.TenantId is null);
        Assert.Equal(("reply", "reply", 1), (global.Name, global.PromptName, global.Examples));
        Assert.Equal(0, again);
        Assert.Equal("hi", (await Store.ListExamplesAsync(support.Id, CancellationToken.None))[0].Input.Messages![0].Content);
    }

    [Fact]
    public async Task ListSets_IsARead_AnExampleWithoutASetRowGetsNoSetFromIt()
    {
        await AddExampleWithoutSetAsync(Acme, EvalSetStore.SupportSet);

        var listed = await Store.ListSetsAsync(null, CancellationToken.None);
        var one = await Store.GetSetAsync(Guid.NewGuid(), CancellationToken.None);

        Assert.Empty(listed);
        Assert.Null(one);
        await using var db = _factory.ForSystem();
        Assert.Equal(0, await db.EvalSets.CountAsync());
    }
}

public sealed class SqliteEvalSetStoreTests : EvalSetStoreTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresEvalSetStoreTests : EvalSetStoreTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
