using Keystone.Data.Agents;
using Keystone.Web.Features.Agents;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Playground;

/// <summary>
/// Agent mode: the message starts a durable run of one of the tenant's agents through <see cref="AgentRunService"/> (the
/// service behind <c>POST /api/v1/agents/{id}/runs</c>), acting for the signed-in user with their role's tool permissions.
/// <see cref="AgentRunLive"/> shows the run's events as they are written. The run's id goes in the address
/// (<c>/playground?run=…</c>), so leaving and coming back (or a reload) shows the run where it is now; the user's recent
/// runs are listed to reopen.
/// </summary>
public sealed partial class PlaygroundPage
{
    private const int RecentRunsShown = 8;

    // Resolved on first use of agent mode, not injected: chat mode (and its tests) must not need the agents feature.
    [Inject] private IServiceProvider PageServices { get; set; } = default!;

    private AgentCatalog Agents => PageServices.GetRequiredService<AgentCatalog>();

    private AgentRunService AgentRuns => PageServices.GetRequiredService<AgentRunService>();

    /// <summary>
    /// The run to show (agent mode), from the address. Any text is accepted (a typed Guid would answer a malformed
    /// address with an error page) and answered in words when it names no run.
    /// </summary>
    [SupplyParameterFromQuery(Name = "run")] public string? Run { get; set; }

    private bool _agentMode;
    private IReadOnlyList<AgentView>? _agents;
    private Guid? _agentId;
    private Guid? _runId;
    private bool _runFinished = true;
    private bool _starting;
    private IReadOnlyList<AgentRun> _recentRuns = [];

    private bool AgentRunning => _agentMode && _runId is not null && !_runFinished;

    /// <summary>The address names a run: agent mode, showing it. True when it did (the conversation part is skipped).</summary>
    private async Task<bool> OpenRunFromAddressAsync()
    {
        if (Run is null)
        {
            if (ConversationId is not null)
            {
                _agentMode = false; // A conversation's address opens it in chat mode.
            }

            return false;
        }

        await SetAgentModeAsync(true);
        if (!Guid.TryParse(Run, out var runId))
        {
            _runId = null;
            _addressNotice = "This address does not name a run. Pick one of your recent runs, or ask the agent something.";
            return true;
        }

        _addressNotice = null;
        if (_runId != runId)
        {
            _runId = runId;
            _runFinished = false;
        }

        return true;
    }

    private async Task SetAgentModeAsync(bool on)
    {
        _agentMode = on;
        if (!on)
        {
            if (Run is not null)
            {
                _runId = null;
                Nav.NavigateTo("playground");
            }

            return;
        }

        if (_agents is null && Tenant.TenantId is { } tenantId)
        {
            _agents = await Agents.ListAsync(tenantId, _life.Token);
            _agentId ??= _agents.Count > 0 ? _agents[0].Id : null;
            await RefreshRecentRunsAsync();
        }
    }

    private async Task RefreshRecentRunsAsync()
    {
        if (Tenant.TenantId is { } tenantId && Tenant.UserId is { } userId)
        {
            _recentRuns = await AgentRuns.ListStartedByAsync(tenantId, userId, RecentRunsShown, _life.Token);
        }
    }

    /// <summary>Starts a run with the composer's text; the address then names it.</summary>
    private async Task StartAgentRunAsync()
    {
        var text = _draft.Trim();
        if (text.Length == 0 || _agentId is not { } agentId || AgentRunning || _starting || Tenant.TenantId is not { } tenantId)
        {
            return;
        }

        _starting = true;
        _error = null;
        try
        {
            var userId = Tenant.UserId ?? "";
            var actor = new RunActor(userId, null, userId, AgentPermissions.ForRoles(Tenant.User.IsInRole));
            var run = await AgentRuns.StartAsync(tenantId, agentId, text, actor, _life.Token);
            _draft = "";
            _runId = run.Id;
            _runFinished = false;
            await RefreshRecentRunsAsync();
            Nav.NavigateTo($"playground?run={run.Id}");
        }
        catch (AgentException ex)
        {
            _error = ex.Message;
        }
        finally
        {
            _starting = false;
        }
    }

    /// <summary>Stop: the run is cancelled (at once when no worker holds it, else at its next step boundary).</summary>
    private async Task CancelAgentRunAsync()
    {
        if (_runId is { } runId && Tenant.TenantId is { } tenantId)
        {
            try
            {
                _error = null;
                await AgentRuns.CancelAsync(tenantId, runId, _life.Token, AgentRunService.CancellerOf(Tenant));
            }
            catch (AgentException ex)
            {
                // An approval being carried out won the race: say so; cancelling again stops the run at its next step.
                _error = ex.Message;
            }
        }
    }

    private async Task AgentRunFinishedAsync(AgentRun run)
    {
        _runFinished = true;
        await RefreshRecentRunsAsync();
    }

    private void OpenRun(Guid runId) => Nav.NavigateTo($"playground?run={runId}");

    private static string RunLabel(AgentRun run)
        => $"{run.AgentName}: {(run.Input.Length <= 40 ? run.Input : run.Input[..40] + "…")}";
}
