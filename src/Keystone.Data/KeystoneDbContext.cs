using System.Linq.Expressions;
using Keystone.Data.Audit;
using Keystone.Data.Identity;
using Keystone.Data.Tenancy;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>
/// The one EF Core model of Keystone. Used directly (no repositories), one instance per operation,
/// always bound to a <see cref="TenantScope"/> that filters every tenant-owned row.
/// </summary>
/// <remarks>
/// Provider details live in <see cref="SqliteKeystoneDbContext"/> and <see cref="PostgresKeystoneDbContext"/>,
/// each with its own migration set. To add a migration to both:
/// <code>
/// dotnet ef migrations add NAME --project src/Keystone.Data --context SqliteKeystoneDbContext --output-dir Migrations/Sqlite
/// dotnet ef migrations add NAME --project src/Keystone.Data --context PostgresKeystoneDbContext --output-dir Migrations/Postgres
/// </code>
/// </remarks>
public abstract partial class KeystoneDbContext : IdentityDbContext<KeystoneUser>
{
    protected KeystoneDbContext(DbContextOptions options, TenantScope scope) : base(options)
    {
        Scope = scope;
        // Referenced by the global query filters; EF parameterizes these per context instance.
        _scopeAll = scope.AllTenants;
        _scopeTenantId = scope.TenantId;
    }

    private readonly bool _scopeAll;
    private readonly Guid? _scopeTenantId;

    /// <summary>The tenants this context may see and write.</summary>
    public TenantScope Scope { get; }

    /// <summary>
    /// The connection whose session the PostgreSQL tenant interceptor set to <see cref="Scope"/> when it opened it, while
    /// that lease lasts (null otherwise, and always on SQLite).
    /// </summary>
    internal System.Data.Common.DbConnection? TenantAppliedTo { get; set; }

    public DbSet<Tenant> Tenants => Set<Tenant>();

    public DbSet<Plan> Plans => Set<Plan>();

    public DbSet<Membership> Memberships => Set<Membership>();

    public DbSet<AuditEntry> AuditLog => Set<AuditEntry>();

    public DbSet<Keys.ApiKey> ApiKeys => Set<Keys.ApiKey>();

    public DbSet<Calls.LlmCall> Calls => Set<Calls.LlmCall>();

    public DbSet<Calls.LlmTrace> Traces => Set<Calls.LlmTrace>();

    public DbSet<Rollups.UsageRollup> UsageRollups => Set<Rollups.UsageRollup>();

    public DbSet<Rollups.UserUsageRollup> UserUsageRollups => Set<Rollups.UserUsageRollup>();

    public DbSet<Rollups.RollupState> RollupStates => Set<Rollups.RollupState>();

    public DbSet<Revenue.InvoiceLine> InvoiceLines => Set<Revenue.InvoiceLine>();

    public DbSet<Budgets.Budget> Budgets => Set<Budgets.Budget>();

    public DbSet<Budgets.BudgetCounter> BudgetCounters => Set<Budgets.BudgetCounter>();

    public DbSet<Budgets.BudgetSettings> BudgetSettings => Set<Budgets.BudgetSettings>();

    public DbSet<Budgets.BudgetReservationRow> BudgetReservations => Set<Budgets.BudgetReservationRow>();

    public DbSet<Caching.ExactCacheEntry> ExactCache => Set<Caching.ExactCacheEntry>();

    public DbSet<Caching.SemanticCacheEntry> SemanticCache => Set<Caching.SemanticCacheEntry>();

    public DbSet<Caching.FeatureCacheSetting> FeatureCacheSettings => Set<Caching.FeatureCacheSetting>();

    public DbSet<Caching.IdempotencyRecord> IdempotencyRecords => Set<Caching.IdempotencyRecord>();

    public DbSet<Routing.TenantModelPolicy> TenantModelPolicies => Set<Routing.TenantModelPolicy>();

    public DbSet<Credentials.ProviderCredential> ProviderCredentials => Set<Credentials.ProviderCredential>();

    public DbSet<Feedback.CallFeedback> Feedback => Set<Feedback.CallFeedback>();

    /// <summary>Each instance's request counts per rate-limit window (not tenant-owned; PostgreSQL mode, decision 20).</summary>
    public DbSet<RateLimits.RateLimitCount> RateLimitCounts => Set<RateLimits.RateLimitCount>();

    /// <summary>Data Protection's key ring, shared by every instance in PostgreSQL mode (not tenant-owned; decision 21).</summary>
    public DbSet<Identity.DataProtectionKey> DataProtectionKeys => Set<Identity.DataProtectionKey>();

    /// <summary>Effective-dated list prices (not tenant-owned).</summary>
    public DbSet<Pricing.ModelPrice> ModelPrices => Set<Pricing.ModelPrice>();

    public DbSet<Playground.Conversation> Conversations => Set<Playground.Conversation>();

    public DbSet<Playground.ConversationMessage> ConversationMessages => Set<Playground.ConversationMessage>();
    public DbSet<Calls.SavedTraceSearch> SavedTraceSearches => Set<Calls.SavedTraceSearch>();
    public DbSet<Calls.TraceRetentionPolicy> TraceRetentionPolicies => Set<Calls.TraceRetentionPolicy>();
    public DbSet<Evals.EvalExample> EvalExamples => Set<Evals.EvalExample>();

    /// <summary>Eval sets: a prompt's global set or a tenant's set for its override.</summary>
    public DbSet<Evals.EvalSet> EvalSets => Set<Evals.EvalSet>();

    public DbSet<Agents.Agent> Agents => Set<Agents.Agent>();

    public DbSet<Agents.AgentToolSetting> AgentToolSettings => Set<Agents.AgentToolSetting>();

    public DbSet<Agents.AgentRun> AgentRuns => Set<Agents.AgentRun>();

    public DbSet<Agents.AgentRunStep> AgentRunSteps => Set<Agents.AgentRunStep>();

    public DbSet<Agents.AgentRunEvent> AgentRunEvents => Set<Agents.AgentRunEvent>();

    public DbSet<Agents.MailSinkMessage> MailSink => Set<Agents.MailSinkMessage>();

    public DbSet<Agents.SupportTicket> SupportTickets => Set<Agents.SupportTicket>();

    public DbSet<Agents.CustomerCredit> CustomerCredits => Set<Agents.CustomerCredit>();

    /// <summary>MCP servers tenant admins registered; their tools join the agents' tool registry.</summary>
    public DbSet<Agents.McpServer> McpServers => Set<Agents.McpServer>();
    /// <summary>Eval runs (a set against a prompt version and alias) and their per-example results.</summary>
    public DbSet<Evals.EvalRun> EvalRuns => Set<Evals.EvalRun>();

    /// <summary>One row per example of a run, written with the run's totals.</summary>
    public DbSet<Evals.EvalResult> EvalResults => Set<Evals.EvalResult>();

    /// <summary>Sampled production calls waiting for review (accept into a set, or discard).</summary>
    public DbSet<Evals.EvalCandidate> EvalCandidates => Set<Evals.EvalCandidate>();

    /// <summary>Per tenant and feature: the share of recorded calls the sampler queues for review.</summary>
    public DbSet<Evals.EvalSamplingRate> EvalSamplingRates => Set<Evals.EvalSamplingRate>();

    /// <summary>The sampler's watermark (not tenant-owned).</summary>
    public DbSet<Evals.EvalSamplerState> EvalSamplerStates => Set<Evals.EvalSamplerState>();
    /// <summary>Per-prompt gate and drift tolerances (global and per tenant override).</summary>
    public DbSet<Evals.EvalTolerance> EvalTolerances => Set<Evals.EvalTolerance>();

    /// <summary>The score each activation of a version was accepted with (drift compares later runs with it).</summary>
    public DbSet<Evals.EvalBaseline> EvalBaselines => Set<Evals.EvalBaseline>();

    /// <summary>Drift alerts: an active version scoring below its baseline by more than its tolerance.</summary>
    public DbSet<Evals.EvalDriftAlert> EvalDriftAlerts => Set<Evals.EvalDriftAlert>();

    /// <summary>Managed prompts (platform-owned, not tenant-filtered).</summary>
    public DbSet<Prompts.Prompt> Prompts => Set<Prompts.Prompt>();

    /// <summary>Immutable prompt versions.</summary>
    public DbSet<Prompts.PromptVersion> PromptVersions => Set<Prompts.PromptVersion>();

    /// <summary>Activation history: the latest row per (prompt, tenant or global) is the active version.</summary>
    public DbSet<Prompts.PromptActivation> PromptActivations => Set<Prompts.PromptActivation>();

    /// <summary>Actions waiting for (or given) a person's approval.</summary>
    public DbSet<Approvals.PendingAction> PendingActions => Set<Approvals.PendingAction>();

    /// <summary>
    /// Ids of the calls whose redacted trace text contains every one of <paramref name="words"/> (from
    /// <see cref="Calls.FullTextQuery.Words"/>), as a subquery to compose with LINQ. SQLite answers from its
    /// FTS5 table, PostgreSQL from its tsvector GIN index; each provider context holds its own SQL.
    /// <paramref name="fromUtc"/> (inclusive) and <paramref name="toUtc"/> (exclusive), the tenant and the feature
    /// may narrow the candidates (where the index can do it cheaply); the caller still applies every filter to
    /// the calls itself, so a narrowing may keep a few more but never drops a match.
    /// </summary>
    public abstract IQueryable<Guid> TraceIdsMatching(IReadOnlyList<string> words, DateTime? fromUtc = null, DateTime? toUtc = null,
        Guid? tenantId = null, string? feature = null);

    /// <summary>
    /// True when the full-text index can name its newest matches without reading every match
    /// (<see cref="NewestMatchesAsync"/>), so a time-ordered search can read it window by window.
    /// </summary>
    public virtual bool FullTextReadsNewestFirst => false;

    /// <summary>
    /// True when the trace search's keyset tie-breaker is the call row's rowid (<see cref="Calls.CallRowKey"/>, SQLite),
    /// false when it is the call id (PostgreSQL): each database's sort indexes end with its own (issue 26).
    /// </summary>
    public virtual bool CallsTieBreakByRowKey => false;

    /// <summary>
    /// Where the newest <paramref name="count"/> matches (of the tenant and feature, when given) created before
    /// <paramref name="beforeUtc"/> begin: <see cref="Calls.NewestMatches.StartUtc"/> is a time at or before the
    /// <paramref name="count"/>-th newest match's creation; when fewer match it is null and
    /// <see cref="Calls.NewestMatches.Keys"/> may name every match (for <see cref="TraceIdsWithKeys"/>, so the words
    /// are not looked up twice). Only when <see cref="FullTextReadsNewestFirst"/>.
    /// </summary>
    public virtual Task<Calls.NewestMatches> NewestMatchesAsync(IReadOnlyList<string> words, Guid? tenantId, string? feature, DateTime? beforeUtc, int count,
        CancellationToken ct)
        => throw new NotSupportedException("This database reads full-text matches only as a whole.");

    /// <summary>The call ids of full-text index entries named by <see cref="Calls.NewestMatches.Keys"/>.</summary>
    public virtual IQueryable<Guid> TraceIdsWithKeys(IReadOnlyList<long> keys)
        => throw new NotSupportedException("This database has no full-text keys.");

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.ApplyConfigurationsFromAssembly(typeof(KeystoneDbContext).Assembly,
            t => t.Namespace?.StartsWith("Keystone.Data", StringComparison.Ordinal) == true);
        builder.Entity<KeystoneUser>(b =>
        {
            b.Property(u => u.DisplayName).HasMaxLength(128);
        });

        foreach (var entity in builder.Model.GetEntityTypes()
                     .Where(e => typeof(ITenantFiltered).IsAssignableFrom(e.ClrType)).ToList())
        {
            builder.Entity(entity.ClrType).HasQueryFilter(BuildTenantFilter(entity.ClrType));
        }
    }

    /// <summary>Builds <c>e =&gt; _scopeAll || (_scopeTenantId != null &amp;&amp; (Guid?)e.TenantId == _scopeTenantId)</c> for one entity type.</summary>
    private LambdaExpression BuildTenantFilter(Type clrType)
    {
        var e = Expression.Parameter(clrType, "e");
        var self = Expression.Constant(this);
        var all = Expression.Field(self, typeof(KeystoneDbContext).GetField(nameof(_scopeAll),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!);
        var current = Expression.Field(self, typeof(KeystoneDbContext).GetField(nameof(_scopeTenantId),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!);
        var tenantProperty = Expression.Property(e, "TenantId");
        Expression tenant = tenantProperty.Type == typeof(Guid?)
            ? tenantProperty
            : Expression.Convert(tenantProperty, typeof(Guid?));
        // "current != null &&" matters: EF gives == C# null semantics, so a platform row (TenantId null)
        // would otherwise match the no-tenant scope.
        var body = Expression.OrElse(all, Expression.AndAlso(
            Expression.NotEqual(current, Expression.Constant(null, typeof(Guid?))),
            Expression.Equal(tenant, current)));
        return Expression.Lambda(body, e);
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        GuardTenantWrites();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        GuardTenantWrites();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    /// <summary>
    /// The application-side twin of the PostgreSQL <c>WITH CHECK</c> policy: a unit of work scoped
    /// to tenant A cannot write a row owned by tenant B (on SQLite this is the only guard).
    /// </summary>
    private void GuardTenantWrites()
    {
        if (Scope.AllTenants)
        {
            return;
        }

        foreach (var entry in ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified or EntityState.Deleted))
            {
                continue;
            }

            if (entry.Entity is not ITenantFiltered)
            {
                continue;
            }

            var tenantId = entry.Property("TenantId").CurrentValue as Guid?;
            if (tenantId is null || tenantId != Scope.TenantId)
            {
                throw new TenantIsolationException(
                    $"A unit of work scoped to tenant '{Scope}' tried to write a {entry.Metadata.ClrType.Name} of tenant '{tenantId?.ToString() ?? "none"}'.");
            }
        }
    }
}
