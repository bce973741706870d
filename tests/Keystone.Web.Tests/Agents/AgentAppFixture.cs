using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Data;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// The app on one database with a probe that can stop a run's worker mid-run, like a process that dies. With
/// <see cref="RecordApprovals"/> the approvals seam is a recorder (the approvals feature is built elsewhere); without it the
/// app's own <see cref="IApprovalService"/> answers.
/// </summary>
public abstract class AgentAppFixture : IAsyncLifetime
{
    private KeystoneAppFactory _base = default!;

    public WebApplicationFactory<Program> App { get; private set; } = default!;

    internal TestRunProbe Probe { get; } = new();

    internal RecordingApprovals Approvals { get; } = new();

    /// <summary>True: a recorder stands in for the approvals service.</summary>
    protected virtual bool RecordApprovals => true;

    protected abstract Task<KeystoneAppFactory> CreateAppAsync();

    /// <summary>A fixture's own test services, added after the app's.</summary>
    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    public async Task InitializeAsync()
    {
        _base = await CreateAppAsync();
        App = _base.WithWebHostBuilder(b => b.ConfigureTestServices(s =>
        {
            s.AddSingleton<AgentRunProbe>(Probe);
            if (RecordApprovals)
            {
                s.AddSingleton<IApprovalService>(Approvals);
            }

            ConfigureServices(s);
        }));
        _ = App.Server;
        Approvals.DbFactory = App.Services.GetRequiredService<KeystoneDbFactory>();
        // Hangfire's log provider is process-global and each host sets its own: once that host is disposed (test classes
        // run side by side), enqueuing a job here would log through a disposed factory. A silent one belongs to no host.
    }

    public virtual Task DisposeAsync()
    {
        App.Dispose();
        _base.Dispose();
        return Task.CompletedTask;
    }

    public KeystoneDbContext Db() => App.Services.GetRequiredService<KeystoneDbFactory>().ForSystem();

    /// <summary>Creates an Acme agent through the catalog (as a tenant admin would).</summary>
    internal async Task<AgentView> CreateAgentAsync(string[] tools, long runBudgetMicros = 500_000, int maxSteps = 8, string model = "fast")
    {
        using var scope = App.Services.CreateScope();
        var catalog = scope.ServiceProvider.GetRequiredService<AgentCatalog>();
        return await catalog.SaveAsync(DemoData.AcmeId, null,
            new AgentInput("agent-" + Guid.NewGuid().ToString("N")[..10], model, null, null, tools, runBudgetMicros, Math.Max(runBudgetMicros, 1_000_000), maxSteps),
            "test-admin", CancellationToken.None);
    }

    /// <summary>Stores a queued run without handing it to Hangfire, so the test runs its worker.</summary>
    internal async Task<AgentRun> CreateRunAsync(AgentView agent, string input, bool admin = true)
    {
        using var scope = App.Services.CreateScope();
        var runs = scope.ServiceProvider.GetRequiredService<AgentRunService>();
        var permissions = AgentPermissions.ForRoles(r => r == (admin ? Roles.TenantAdmin : Roles.TenantMember));
        return await runs.CreateAsync(DemoData.AcmeId, agent.Id, input, new RunActor("test-user", null, "test-user", permissions), CancellationToken.None);
    }

    /// <summary>Runs the worker for <paramref name="runId"/> in this test (as a Hangfire job would).</summary>
    internal async Task<bool> WorkAsync(Guid runId, CancellationToken ct = default)
    {
        using var scope = App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<AgentRunner>().RunAsync(runId, ct);
    }

    internal async Task<(AgentRun Run, List<AgentRunStep> Steps)> ReadAsync(Guid runId)
    {
        await using var db = Db();
        var run = await db.AgentRuns.AsNoTracking().SingleAsync(r => r.Id == runId);
        var steps = await db.AgentRunSteps.AsNoTracking().Where(s => s.RunId == runId).OrderBy(s => s.Sequence).ToListAsync();
        return (run, steps);
    }

    /// <summary>
    /// Finishes a run that was handed to a worker: runs a worker here too (it claims the run only if no live worker holds
    /// it), then waits for one of <paramref name="states"/>.
    /// </summary>
    /// <remarks>
    /// Running the worker here does not wait for the Hangfire server's next fetch, so a test does not depend on how busy
    /// the machine is; a live worker that claimed the run first makes this call a no-op.
    /// </remarks>
    internal async Task<AgentRun> FinishAsync(Guid runId, params AgentRunState[] states)
    {
        await WorkAsync(runId);
        return await WaitForAsync(runId, states);
    }

    /// <summary>Waits (up to 60 s) for a run that a Hangfire worker executes to reach <paramref name="state"/>.</summary>
    internal async Task<AgentRun> WaitForAsync(Guid runId, params AgentRunState[] states)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var (run, _) = await ReadAsync(runId);
            if (states.Contains(run.State) || DateTime.UtcNow > deadline)
            {
                Assert.Contains(run.State, states);
                return run;
            }

            await Task.Delay(100);
        }
    }
}

public sealed class SqliteAgentAppFixture : AgentAppFixture
{
    protected override Task<KeystoneAppFactory> CreateAppAsync() => Task.FromResult(new KeystoneAppFactory());
}

public sealed class PostgresAgentAppFixture : AgentAppFixture
{
    private PostgresTestDatabase? _db;

    protected override Task<KeystoneAppFactory> CreateAppAsync() => CreatePostgresAppAsync();

    /// <summary>A new database and the app on it (the approvals end-to-end fixture uses it too).</summary>
    internal async Task<KeystoneAppFactory> CreatePostgresAppAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        return new KeystoneAppFactory()
            .WithSetting("Database:Provider", "Postgres")
            .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
            .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await DisposeDatabaseAsync();
    }

    internal async Task DisposeDatabaseAsync()
    {
        if (_db is not null)
        {
            await _db.DisposeAsync();
        }
    }
}

/// <summary>Stops a worker at a chosen point the way a dying process stops: it throws out of the loop, nothing is cleaned up.</summary>
internal sealed class TestRunProbe : AgentRunProbe
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Func<AgentRunStep, bool>> _killAfterStep = [];
    private readonly Dictionary<Guid, Func<AgentRunStep, bool>> _killAfterToolRan = [];
    private readonly Dictionary<Guid, Func<AgentRunStep, Task>> _afterStep = [];

    public void KillAfterStep(Guid runId, Func<AgentRunStep, bool> when) { lock (_gate) { _killAfterStep[runId] = when; } }

    public void KillAfterToolRan(Guid runId, Func<AgentRunStep, bool> when) { lock (_gate) { _killAfterToolRan[runId] = when; } }

    public void AfterStep(Guid runId, Func<AgentRunStep, Task> action) { lock (_gate) { _afterStep[runId] = action; } }

    public override async ValueTask StepPersistedAsync(AgentRunStep step, CancellationToken ct)
    {
        Func<AgentRunStep, Task>? after;
        lock (_gate)
        {
            _afterStep.TryGetValue(step.RunId, out after);
        }

        if (after is not null)
        {
            await after(step);
        }

        Kill(_killAfterStep, step);
    }

    public override ValueTask ToolExecutedAsync(AgentRunStep step, CancellationToken ct)
    {
        Kill(_killAfterToolRan, step);
        return ValueTask.CompletedTask;
    }

    private void Kill(Dictionary<Guid, Func<AgentRunStep, bool>> points, AgentRunStep step)
    {
        lock (_gate)
        {
            if (points.TryGetValue(step.RunId, out var when) && when(step))
            {
                points.Remove(step.RunId); // Once: the resumed worker runs on.
                throw new OperationCanceledException("The worker was killed (test).");
            }
        }
    }
}

/// <summary>The approvals seam as a recorder: stores each request and answers a fresh id (the same id for the same source and step).</summary>
internal sealed class RecordingApprovals : IApprovalService
{
    private readonly Lock _gate = new();
    private readonly List<(Guid Id, PendingActionRequest Request)> _requests = [];

    public IReadOnlyList<(Guid Id, PendingActionRequest Request)> For(Guid runId)
    {
        lock (_gate)
        {
            return [.. _requests.Where(r => r.Request.SourceId == runId)];
        }
    }

    /// <summary>The app's database, for the source's own write when a source is cancelled.</summary>
    public KeystoneDbFactory? DbFactory { get; set; }

    /// <summary>Ends the source in a transaction of its own; the recorded requests stay as they were (nothing is pending here).</summary>
    public async Task<SourceCancellation> CancelWithSourceAsync(Guid tenantId, string sourceKind, Guid sourceId, SourceCanceller by,
        Func<KeystoneDbContext, CancellationToken, Task<bool>> endSource, CancellationToken cancellationToken)
    {
        await using var db = DbFactory!.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        if (!await endSource(db, cancellationToken))
        {
            return new SourceCancellation(SourceCancellationResult.SourceNotEnded, 0);
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return new SourceCancellation(SourceCancellationResult.Cancelled, 0);
    }

    public Task<Guid> RequestAsync(PendingActionRequest request, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var existing = _requests.FirstOrDefault(r => r.Request.SourceId == request.SourceId && r.Request.SourceStepKey == request.SourceStepKey);
            if (existing.Id != Guid.Empty)
            {
                return Task.FromResult(existing.Id);
            }

            var id = Guid.NewGuid();
            _requests.Add((id, request));
            return Task.FromResult(id);
        }
    }
}
