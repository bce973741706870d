using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Data.Approvals;
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
    private static readonly Guid RunId = Guid.NewGuid();
    private static readonly Guid ActionId = Guid.NewGuid();
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
        system.Users.Add(new KeystoneUser { Id = "u-mia", UserName = "mia@acme.test", Email = "mia@acme.test", DisplayName = "Mia Member", CreatedUtc = at });
        var agentId = Guid.NewGuid();
        system.Agents.Add(new Agent { Id = agentId, TenantId = Acme, Name = "Customer helper", ModelAlias = "fast", CreatedByUserId = "u-ada", CreatedUtc = at, UpdatedUtc = at });
        system.AgentRuns.Add(new AgentRun
        {
            Id = RunId, TenantId = Acme, AgentId = agentId, AgentName = "Customer helper", Model = "fast", Input = "Email the customer", OnBehalfOf = "u-mia",
            State = AgentRunState.Succeeded, CreatedUtc = at, UpdatedUtc = at,
        });
        system.PendingActions.Add(new PendingAction
        {
            Id = ActionId, TenantId = Acme, Tool = "send_email", InputJson = "{}", Summary = "Send an email to jo@example.com", OnBehalfOfUserId = "u-mia",
            ApproverRole = Roles.TenantAdmin, SourceKind = "agent_run", SourceId = RunId, SourceStepKey = "1", Status = "approved", CreatedUtc = at, ExpiresUtc = at.AddHours(1),
        });
        system.AuditLog.AddRange(
            new AuditEntry
            {
                TenantId = Acme, Action = "approval.approve", ActorType = "user", ActorId = "u-ada", ActorName = "ada@acme.test", OnBehalfOf = "u-mia",
                CreatedUtc = at.AddMinutes(2), Target = $"pending_action:{ActionId}",
            },
            new AuditEntry
            {
                TenantId = Acme, Action = "agent.tool.send_email", ActorType = "agent", ActorId = agentId.ToString(), ActorName = "Customer helper",
                OnBehalfOf = $"api-key:{KeyId}", CreatedUtc = at.AddMinutes(3), Target = $"agent_run:{RunId}",
            },
            new AuditEntry
            {
                TenantId = Acme, Action = "approval.expire", ActorType = "system", ActorId = "approvals", OnBehalfOf = "u-gone",
                CreatedUtc = at.AddMinutes(4), Target = $"pending_action:{Guid.NewGuid()}",
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

    [Fact]
    public async Task Search_ApprovalsAndAgentRuns_AreNamedAndLinkedAndOnBehalfOfIsAName()
    {
        var queries = new AuditQueries(new ScopedKeystoneDbContextFactory(_db.CreateFactory(), new FixedTenantContext(TenantScope.All)));

        var (rows, _) = await queries.SearchAsync(new AuditFilter(null, null, null, null), CancellationToken.None);

        var approve = rows.Single(r => r.Action == "approval.approve");
        Assert.Equal("Approval of send_email: Send an email to jo@example.com (asked by a run of Customer helper)", approve.TargetLabel);
        Assert.Equal($"/agents/runs/{RunId}", approve.TargetHref);
        Assert.Equal("Mia Member (mia@acme.test)", approve.OnBehalfOfLabel);

        var send = rows.Single(r => r.Action == "agent.tool.send_email");
        Assert.Equal("Run of agent Customer helper", send.TargetLabel);
        Assert.Equal($"/agents/runs/{RunId}", send.TargetHref);
        Assert.Equal("API key “billing-service”", send.OnBehalfOfLabel);

        // Gone from the store: said in words, the inbox as the place to look, the id as recorded.
        var expired = rows.Single(r => r.Action == "approval.expire");
        Assert.Equal("Approval (no longer stored)", expired.TargetLabel);
        Assert.Equal("/approvals", expired.TargetHref);
        Assert.Equal("u-gone", expired.OnBehalfOfLabel);
        Assert.Null(rows.Single(r => r.Action == "apikey.revoke").OnBehalfOfLabel);
    }
}
