using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Data.Identity;
using Keystone.Data.Keys;
using Keystone.Data.Tenancy;
using Keystone.Testing;
using Keystone.Web.Features.Audit;
using Keystone.Web.Platform;

namespace Keystone.Web.Tests.Audit;

/// <summary>The audit page shows names, not ids, and details as fields, not escaped JSON (issue 21).</summary>
public sealed class AuditReadabilityTests : IAsyncLifetime
{
    private static readonly Guid Acme = Guid.NewGuid();
    private static readonly Guid KeyId = Guid.NewGuid();
    private SqliteTestDatabase _db = default!;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        await using var system = _db.CreateFactory().ForSystem();
        var planId = Guid.NewGuid();
        var at = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        system.Plans.Add(new Plan { Id = planId, Name = "Test" });
        system.Tenants.Add(new Tenant { Id = Acme, Name = "Acme Corp", Slug = "acme-corp", PlanId = planId, CreatedUtc = at });
        system.Users.Add(new KeystoneUser { Id = "u-ada", UserName = "ada@acme.test", Email = "ada@acme.test", DisplayName = "Ada Admin", CreatedUtc = at });
        system.ApiKeys.Add(new ApiKey { Id = KeyId, TenantId = Acme, Name = "billing-service", Prefix = "ks_aaaa", Hash = "h", Scopes = "chat", CreatedUtc = at });
        system.AuditLog.AddRange(
            new AuditEntry
            {
                TenantId = Acme, Action = "budgets.set", ActorType = "user", ActorId = "u-ada", ActorName = "ada@acme.test", CreatedUtc = at,
                Target = $"tenant:{Acme}", MetadataJson = """{"period":"day","limitMicros":2000,"cap":{"scope":"tenant","hard":true},"models":["sim-fast","sim-smart"]}""",
            },
            new AuditEntry
            {
                TenantId = Acme, Action = "apikey.revoke", ActorType = "user", ActorId = "u-gone", ActorName = "gone@acme.test", CreatedUtc = at.AddMinutes(1),
                Target = $"apikey:{KeyId}",
            });
        await system.SaveChangesAsync();
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Search_NamesActorsAndTargets_AndSpellsOutDetails()
    {
        var queries = new AuditQueries(new ScopedKeystoneDbContextFactory(_db.CreateFactory(), new FixedTenantContext(TenantScope.All)));

        var (rows, _) = await queries.SearchAsync(new AuditFilter(null, null, null, null), CancellationToken.None);

        var revoke = rows.Single(r => r.Action == "apikey.revoke");
        Assert.Equal("API key “billing-service”", revoke.TargetLabel);
        Assert.Equal("gone@acme.test", revoke.ActorLabel); // A user no longer there: the recorded email, not an id.
        Assert.Empty(revoke.Details);

        var set = rows.Single(r => r.Action == "budgets.set");
        Assert.Equal("Ada Admin (ada@acme.test)", set.ActorLabel);
        Assert.Equal("Tenant Acme Corp", set.TargetLabel);
        Assert.Equal(
            [new("period", "day"), new("limit micros", "2,000"), new("cap › scope", "tenant"), new("cap › hard", "yes"), new("models", "sim-fast, sim-smart")],
            set.Details);
    }
}
