using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using MudBlazor;

namespace Keystone.Web.Features.Agents;

public sealed partial class AgentsPage
{
    private readonly CancellationTokenSource _cts = new();
    private readonly LiveWakeup _wakeup = new();
    private IDisposable? _subscription;
    private IReadOnlyList<AgentView> _agents = [];
    private IReadOnlyList<ToolLevelView> _levels = [];
    private IReadOnlyList<AgentRun> _runs = [];
    private IReadOnlyList<MailSinkMessage> _mail = [];
    private IReadOnlyList<string> _models = [];
    private IReadOnlyList<string> _prompts = [];
    private AgentForm _form = new();
    private Guid? _editing;
    private Guid _runAgent;
    private string _runInput = "";
    private string? _error;
    private bool _busy;

    [Inject] private AgentCatalog Catalog { get; set; } = default!;

    [Inject] private AgentRunService Runs { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private KeystoneDbFactory DbFactory { get; set; } = default!;

    [Inject] private TimeProvider Clock { get; set; } = default!;

    [Inject] private AgentRunNotices Notices { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        if (Tenant.TenantId is null)
        {
            return;
        }

        _models = await Catalog.ModelsAsync(Tenant.TenantId.Value, _cts.Token);
        _prompts = await Catalog.PromptNamesAsync(_cts.Token);
        NewForm();
        // Any run of the tenant that writes events (a new run, a step, an approval, the end) wakes the runs panel.
        _subscription = Notices.Subscribe(Tenant.TenantId.Value, null, _ => _wakeup.Set());
        await LoadAsync();
        _ = FollowRunsAsync();
    }

    private async Task LoadAsync()
    {
        var tenantId = Tenant.TenantId!.Value;
        _agents = await Catalog.ListAsync(tenantId, _cts.Token);
        _levels = await Catalog.ToolLevelsAsync(tenantId, _cts.Token);
        await LoadRunsAsync(tenantId);
        if (_runAgent == Guid.Empty && _agents.Count > 0)
        {
            _runAgent = _agents[0].Id;
        }
    }

    /// <summary>The runs and the mail sink (what a run's progress changes).</summary>
    private async Task LoadRunsAsync(Guid tenantId)
    {
        _runs = await Runs.ListAsync(tenantId, null, 20, _cts.Token);
        await using var db = DbFactory.ForTenant(tenantId);
        _mail = await db.MailSink.AsNoTracking().Where(m => m.TenantId == tenantId).OrderByDescending(m => m.CreatedUtc).Take(20).ToListAsync(_cts.Token);
    }

    /// <summary>
    /// Live state without polling: a run's notice re-reads the runs and the mail sink at once; without one, the safety poll
    /// re-reads only while a listed run is unfinished (a notice from another instance may have been lost).
    /// </summary>
    private async Task FollowRunsAsync()
    {
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                var notified = await _wakeup.WaitAsync(Notices.SafetyPoll, Clock, _cts.Token);
                if (notified || _runs.Any(r => !AgentRunEvents.IsFinished(r.State)))
                {
                    await InvokeAsync(async () =>
                    {
                        await LoadRunsAsync(Tenant.TenantId!.Value);
                        StateHasChanged();
                    });
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The page closed.
        }
    }

    private void NewForm()
    {
        _editing = null;
        _form = new AgentForm { Model = _models.Count > 0 ? _models[0] : "" };
    }

    private void Edit(AgentView a)
    {
        _editing = a.Id;
        _form = new AgentForm
        {
            Name = a.Name, Model = a.ModelAlias, Prompt = a.PromptName, PromptVersion = a.PromptVersionNumber, Tools = [.. a.Tools],
            RunBudgetUsd = a.RunBudgetMicros / 1_000_000m, DayBudgetUsd = a.DayBudgetMicros / 1_000_000m, MaxSteps = a.MaxSteps,
        };
    }

    private void ToggleTool(string tool, bool on)
    {
        if (on)
        {
            _form.Tools.Add(tool);
        }
        else
        {
            _form.Tools.Remove(tool);
        }
    }

    private async Task SaveAsync()
    {
        await RunAsync(async () =>
        {
            await Catalog.SaveAsync(Tenant.TenantId!.Value, _editing, new AgentInput(_form.Name, _form.Model, _form.Prompt, _form.PromptVersion, [.. _form.Tools],
                ToMicros(_form.RunBudgetUsd), ToMicros(_form.DayBudgetUsd), _form.MaxSteps), Tenant.UserId ?? "", _cts.Token);
            NewForm();
        });
    }

    private async Task SetLevelAsync(string tool, AutonomyLevel level)
        => await RunAsync(() => Catalog.SetToolLevelAsync(Tenant.TenantId!.Value, tool, level, Tenant.UserId ?? "", _cts.Token));

    private async Task StartRunAsync()
    {
        await RunAsync(async () =>
        {
            var actor = new RunActor(Tenant.UserId, null, Tenant.UserId ?? "", AgentPermissions.ForRoles(Tenant.User.IsInRole));
            await Runs.StartAsync(Tenant.TenantId!.Value, _runAgent, _runInput, actor, _cts.Token);
            _runInput = "";
        });
    }

    private async Task CancelRunAsync(Guid runId)
        => await RunAsync(() => Runs.CancelAsync(Tenant.TenantId!.Value, runId, _cts.Token, AgentRunService.CancellerOf(Tenant)));

    /// <summary>Runs a change, shows a refusal in plain words, and reloads what the page shows.</summary>
    private async Task RunAsync(Func<Task> change)
    {
        _busy = true;
        _error = null;
        try
        {
            await change();
        }
        catch (AgentException ex)
        {
            _error = ex.Message;
        }
        finally
        {
            _busy = false;
        }

        await LoadAsync();
    }

    private static long ToMicros(decimal usd) => (long)Math.Round(usd * 1_000_000m, MidpointRounding.AwayFromZero);

    private static string Shorten(string? text) => text is null ? "" : text.Length <= 160 ? text : text[..160] + "…";

    private static string StateText(AgentRunState s) => s switch
    {
        AgentRunState.WaitingApproval => "waiting for approval",
        _ => s.ToString().ToLowerInvariant(),
    };

    private static Color StateColor(AgentRunState s) => s switch
    {
        AgentRunState.Succeeded => Color.Success,
        AgentRunState.Failed => Color.Error,
        AgentRunState.WaitingApproval => Color.Warning,
        AgentRunState.Cancelled => Color.Default,
        _ => Color.Info,
    };

    private static string LevelText(AutonomyLevel l) => l switch
    {
        AutonomyLevel.SuggestOnly => "L1 suggest only",
        AutonomyLevel.ActWithUndo => "L2 act with undo",
        AutonomyLevel.ConfirmEach => "L3 confirm each call",
        AutonomyLevel.ConfirmPlanOnce => "L4 confirm once per run",
        _ => "L5 autonomous with audit",
    };

    public async ValueTask DisposeAsync()
    {
        _subscription?.Dispose();
        await _cts.CancelAsync();
        _cts.Dispose();
        _wakeup.Dispose();
    }

    /// <summary>The agent form's fields.</summary>
    private sealed class AgentForm
    {
        public string Name { get; set; } = "";

        public string Model { get; set; } = "";

        public string? Prompt { get; set; }

        public int? PromptVersion { get; set; }

        public HashSet<string> Tools { get; set; } = new(StringComparer.Ordinal);

        public decimal RunBudgetUsd { get; set; } = 0.05m;

        public decimal DayBudgetUsd { get; set; } = 1m;

        public int MaxSteps { get; set; } = 8;
    }
}
