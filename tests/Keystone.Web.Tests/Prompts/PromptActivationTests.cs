using Keystone.Web.Platform;
using System.Security.Claims;
using Keystone.Data;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The active-version rule (global, tenant override, rollback) on one database; run on SQLite and PostgreSQL below.</summary>
public abstract class PromptActivationTests : IAsyncLifetime
{
    private IAsyncDisposable? _database;
    private KeystoneDbFactory _factory = default!;

    protected abstract Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync();

    public async Task InitializeAsync()
    {
        (_database, _factory) = await CreateDatabaseAsync();
        await SeedTenantsAsync(_factory);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    private PromptCatalog Catalog(string role = Roles.PromptEditor)
    {
        var tenant = new TenantContext(new ServiceCollection().BuildServiceProvider());
        tenant.SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, $"{role}-id"),
            new Claim(ClaimTypes.Email, $"{role.ToLowerInvariant()}@keystone.test"),
            new Claim(ClaimTypes.Role, role),
        ], "test")));
        return new PromptCatalog(_factory, tenant, new AuditLog(_factory, tenant, TimeProvider.System), TimeProvider.System);
    }

    private PromptRenderer Renderer => new(_factory);

    private static NewPromptVersion Content(string user) => new("You help {{company}}.", user, "smart", null, 100, null);

    private async Task<int> ActiveAsync(string name, Guid tenantId) => (await Renderer.ResolveAsync(name, tenantId, null, CancellationToken.None)).Version.Number;

    private async Task<string> PromptWithVersionsAsync(int count)
    {
        var name = $"p-{Guid.NewGuid():N}"[..20];
        var catalog = Catalog();
        await catalog.CreatePromptAsync(name, "test prompt", Content("v1 {{q}}"), CancellationToken.None);
        for (var i = 2; i <= count; i++)
        {
            await catalog.CreateVersionAsync(name, Content($"v{i} {{{{q}}}}"), CancellationToken.None);
        }

        return name;
    }

    [Fact]
    public async Task Resolve_NothingActivated_ThrowsNotActiveAndUnknownPromptThrowsNotFound()
    {
        var name = await PromptWithVersionsAsync(1);

        var notActive = await Assert.ThrowsAsync<PromptException>(() => Renderer.ResolveAsync(name, Acme, null, CancellationToken.None));
        var notFound = await Assert.ThrowsAsync<PromptException>(() => Renderer.ResolveAsync("no-such-prompt", Acme, null, CancellationToken.None));
        var noVersion = await Assert.ThrowsAsync<PromptException>(() => Renderer.ResolveAsync(name, Acme, 7, CancellationToken.None));

        Assert.Equal(PromptException.NotActive, notActive.Code);
        Assert.Equal(PromptException.NotFound, notFound.Code);
        Assert.Equal(PromptException.VersionNotFound, noVersion.Code);
        Assert.Equal(1, (await Renderer.ResolveAsync(name, Acme, 1, CancellationToken.None)).Version.Number);
    }

    [Fact]
    public async Task Resolve_GlobalActivations_LatestGlobalWinsForEveryTenant()
    {
        var name = await PromptWithVersionsAsync(3);
        var catalog = Catalog();

        await catalog.ActivateAsync(name, 3, null, CancellationToken.None);
        await catalog.ActivateAsync(name, 2, null, CancellationToken.None);

        Assert.Equal(2, await ActiveAsync(name, Acme));
        Assert.Equal(2, await ActiveAsync(name, Globex));
        var detail = await catalog.GetAsync(name, CancellationToken.None);
        Assert.Equal(2, detail!.ActiveGlobalVersion);
        Assert.Equal([2, 3], detail.History.Select(h => h.VersionNumber!.Value));
    }

    [Fact]
    public async Task Resolve_TenantOverride_WinsForThatTenantOnlyUntilRemoved()
    {
        var name = await PromptWithVersionsAsync(2);
        var catalog = Catalog();
        await catalog.ActivateAsync(name, 1, null, CancellationToken.None);

        await catalog.ActivateAsync(name, 2, Acme, CancellationToken.None);
        var acmeWithOverride = await ActiveAsync(name, Acme);
        var globex = await ActiveAsync(name, Globex);
        // The global activation moving on does not touch the override.
        await catalog.ActivateAsync(name, 1, null, CancellationToken.None);
        var acmeAfterGlobalChange = await ActiveAsync(name, Acme);
        await catalog.RemoveOverrideAsync(name, Acme, CancellationToken.None);

        Assert.Equal(2, acmeWithOverride);
        Assert.Equal(1, globex);
        Assert.Equal(2, acmeAfterGlobalChange);
        Assert.Equal(1, await ActiveAsync(name, Acme));
        var list = await catalog.ListAsync(CancellationToken.None);
        Assert.Equal(0, list.Single(p => p.Name == name).TenantOverrides);
    }

    [Fact]
    public async Task Rollback_Global_ReactivatesThePreviousVersionAsAnAuditedHistoryRow()
    {
        var name = await PromptWithVersionsAsync(3);
        var catalog = Catalog();
        await catalog.ActivateAsync(name, 1, null, CancellationToken.None);
        await catalog.ActivateAsync(name, 3, null, CancellationToken.None);

        var now = await catalog.RollbackAsync(name, null, CancellationToken.None);

        Assert.Equal(1, now);
        Assert.Equal(1, await ActiveAsync(name, Acme));
        var history = (await catalog.GetAsync(name, CancellationToken.None))!.History;
        Assert.True(history[0].IsRollback);
        Assert.Equal(1, history[0].VersionNumber);
        Assert.Equal("prompteditor@keystone.test", history[0].ActivatedBy);
        await using var db = _factory.ForSystem();
        var audit = await db.AuditLog.AsNoTracking().Where(a => a.Target == $"prompt:{name}").Select(a => a.Action).ToListAsync();
        Assert.Equal(["prompt.activate", "prompt.activate", "prompt.create", "prompt.rollback", "prompt.version_create", "prompt.version_create", "prompt.version_create"],
            audit.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rollback_TenantsFirstOverride_TenantFollowsTheGlobalVersionAgain()
    {
        var name = await PromptWithVersionsAsync(2);
        var catalog = Catalog();
        await catalog.ActivateAsync(name, 1, null, CancellationToken.None);
        await catalog.ActivateAsync(name, 2, Acme, CancellationToken.None);

        var now = await catalog.RollbackAsync(name, Acme, CancellationToken.None);

        Assert.Null(now);
        Assert.Equal(1, await ActiveAsync(name, Acme));
        await Assert.ThrowsAsync<PromptException>(() => catalog.RollbackAsync(name, Globex, CancellationToken.None));
    }

    [Fact]
    public async Task Rollback_OnlyOneVersionEverActive_IsRejectedWithAMessage()
    {
        var name = await PromptWithVersionsAsync(1);
        var catalog = Catalog();
        await catalog.ActivateAsync(name, 1, null, CancellationToken.None);

        var ex = await Assert.ThrowsAsync<PromptException>(() => catalog.RollbackAsync(name, null, CancellationToken.None));

        Assert.Contains("no previous version", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, await ActiveAsync(name, Acme));
    }

    [Fact]
    public async Task Edit_AsSupport_IsRefusedAndChangesNothing()
    {
        var name = await PromptWithVersionsAsync(1);
        var support = Catalog(Roles.Support);

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => support.ActivateAsync(name, 1, null, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => support.CreateVersionAsync(name, Content("x"), CancellationToken.None));

        Assert.False(support.CanEdit);
        Assert.Single((await support.GetAsync(name, CancellationToken.None))!.Versions);
        Assert.Empty((await support.GetAsync(name, CancellationToken.None))!.History);
    }

    [Fact]
    public async Task VersionId_NameAndNumber_FindsThatVersionOnly()
    {
        var name = await PromptWithVersionsAsync(2);
        var catalog = Catalog(Roles.Support);
        var versions = await catalog.VersionsAsync(name, CancellationToken.None);

        var v2 = await catalog.VersionIdAsync(name.ToUpperInvariant(), 2, CancellationToken.None);
        var v9 = await catalog.VersionIdAsync(name, 9, CancellationToken.None);

        Assert.Equal(versions.Single(v => v.Number == 2).Id, v2);
        Assert.Null(v9);
        Assert.Equal([2, 1], versions.Select(v => v.Number));
    }

    [Theory]
    [InlineData("Support Reply", null, "lower-case")]
    [InlineData("ok-name", "", "user template is required")]
    public async Task CreatePrompt_InvalidInput_IsRejectedWithTheReason(string name, string? userTemplate, string message)
    {
        var ex = await Assert.ThrowsAsync<PromptException>(() => Catalog().CreatePromptAsync(name, null, new NewPromptVersion(null, userTemplate, "smart", null, null, null), CancellationToken.None));

        Assert.Equal(PromptException.Invalid, ex.Code);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }
}

public sealed class SqlitePromptActivationTests : PromptActivationTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}

public sealed class PostgresPromptActivationTests : PromptActivationTests
{
    protected override async Task<(IAsyncDisposable Database, KeystoneDbFactory Factory)> CreateDatabaseAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db, db.CreateFactory());
    }
}
