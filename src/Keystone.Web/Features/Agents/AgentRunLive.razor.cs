using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Data.Identity;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// Follows one run of the signed-in user: reads the run's event rows (the ones <c>GET /api/v1/runs/{id}/events</c> sends)
/// after the last one shown and renders them, again each time the run says it wrote more (<see cref="AgentRunNotices"/>,
/// pushed by the worker, the approval hand-over and a cancel, from this instance or another) and on the notices' slow
/// safety poll, until <c>done</c>. The rows stay the one source: a notice only says "read again", so opening the page
/// later replays the run from its first event, and a lost notice is late, never wrong.
/// </summary>
public sealed partial class AgentRunLive : IAsyncDisposable
{
    private readonly List<RunEvent> _events = [];
    private CancellationTokenSource? _follow;
    private IDisposable? _subscription;
    private LiveWakeup? _wakeup;
    private AgentRun? _run;
    private Guid _followed;
    private long _after;
    private long _costMicros;
    private string _state = "queued";
    private bool _finished;
    private bool _missing;

    /// <summary>The run to follow; it must be one the signed-in user started in the tenant in scope.</summary>
    [Parameter] public Guid RunId { get; set; }

    /// <summary>Raised once when the run's <c>done</c> event arrives (or is found already written).</summary>
    [Parameter] public EventCallback<AgentRun> OnFinished { get; set; }

    [Inject] private AgentRunService Runs { get; set; } = default!;

    [Inject] private AgentRunNotices Notices { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private TimeProvider Clock { get; set; } = default!;

    [Inject] private ILogger<AgentRunLive> Log { get; set; } = default!;

    /// <summary>Whether the run has ended (its <c>done</c> event was read).</summary>
    internal bool Finished => _finished;

    protected override async Task OnParametersSetAsync()
    {
        if (_followed == RunId)
        {
            return;
        }

        await StopFollowingAsync();
        _followed = RunId;
        _events.Clear();
        _after = 0;
        _costMicros = 0;
        _state = "queued";
        _finished = false;
        _missing = false;
        _run = null;
        if (Tenant.TenantId is not { } tenantId || Tenant.UserId is not { } userId)
        {
            _missing = true;
            return;
        }

        var view = await Runs.GetAsync(tenantId, RunId, CancellationToken.None);
        // The playground shows a member their own runs only (admins read others' on /agents/runs/{id}).
        if (view is null || view.Run.StartedByUserId != userId)
        {
            _missing = true;
            return;
        }

        _run = view.Run;
        _costMicros = view.Run.CostMicros;
        // Subscribed before the first read: an event written between the read and the subscription still wakes the view.
        var wakeup = _wakeup = new LiveWakeup();
        _subscription = Notices.Subscribe(tenantId, RunId, _ => wakeup.Set());
        await ReadAsync(tenantId, CancellationToken.None);
        if (!_finished)
        {
            _follow = new CancellationTokenSource();
            _ = FollowAsync(tenantId, wakeup, _follow.Token);
        }
        else
        {
            await StopFollowingAsync();
        }
    }

    /// <summary>Reads new events at each notice (or safety poll) until <c>done</c>; each batch is one render.</summary>
    private async Task FollowAsync(Guid tenantId, LiveWakeup wakeup, CancellationToken ct)
    {
        try
        {
            while (!_finished && !ct.IsCancellationRequested)
            {
                await wakeup.WaitAsync(Notices.SafetyPoll, Clock, ct);
                var before = _events.Count;
                await InvokeAsync(async () =>
                {
                    await ReadAsync(tenantId, ct);
                    if (_events.Count != before)
                    {
                        StateHasChanged();
                    }
                });
            }
        }
        catch (OperationCanceledException)
        {
            // The page closed, or another run is followed now.
        }
        catch (Exception ex)
        {
            // A lost database connection ends the live view; opening the run again reads it from the start.
            Log.LogWarning(ex, "Following agent run {RunId} stopped", RunId);
        }
        finally
        {
            if (_finished && !ct.IsCancellationRequested)
            {
                // Done: nothing more will come, so the view stops listening.
                _subscription?.Dispose();
            }
        }
    }

    /// <summary>Ends the follow loop and the notice subscription (another run is shown, or the circuit ends).</summary>
    private async Task StopFollowingAsync()
    {
        _subscription?.Dispose();
        _subscription = null;
        if (_follow is not null)
        {
            await _follow.CancelAsync();
            _follow.Dispose();
            _follow = null;
        }

        _wakeup?.Dispose();
        _wakeup = null;
    }

    private async Task ReadAsync(Guid tenantId, CancellationToken ct)
    {
        while (true)
        {
            var rows = await Runs.EventsAsync(tenantId, RunId, _after, 200, ct);
            foreach (var row in rows)
            {
                var e = RunEvent.From(row);
                _events.Add(e);
                _after = row.Id;
                switch (e.Type)
                {
                    case AgentRunEvents.Status when e.Str("state") is { } state:
                        _state = state;
                        break;
                    case AgentRunEvents.Done:
                        _state = e.Str("state") ?? _state;
                        _costMicros = e.Long("costMicros") ?? _costMicros;
                        _finished = true;
                        break;
                }
            }

            if (rows.Count < 200 || _finished)
            {
                break;
            }
        }

        if (_finished && _run is not null && OnFinished.HasDelegate)
        {
            var ended = (await Runs.GetAsync(tenantId, RunId, ct))?.Run ?? _run;
            _run = ended;
            await OnFinished.InvokeAsync(ended);
        }
    }

    /// <summary>The last model step's text is the final answer: shown once, by the <c>done</c> event.</summary>
    private bool IsFinalAnswer(RunEvent token)
        => _events.LastOrDefault(e => e.Type == AgentRunEvents.Done) is { } done && done.Str("output") is { } output && output == token.Str("text");

    /// <summary>How a decision on this approval went, once the run heard of it (the status event after it, and its tool's result).</summary>
    private string? Decided(RunEvent approval)
    {
        var after = _events.SkipWhile(e => !ReferenceEquals(e, approval)).Skip(1).ToList();
        var result = after.FirstOrDefault(e => e.Type == AgentRunEvents.ToolResult && e.Long("step") == approval.Long("step"));
        var status = after.FirstOrDefault(e => e.Type == AgentRunEvents.Status && e.Str("approval") is not null);
        return (status?.Str("approval"), result?.Str("state")) switch
        {
            ("approved", _) or (_, "completed") => "Approved: the action was carried out.",
            ("rejected", _) or (_, "rejected") when status?.Str("approval") != "expired" => "Rejected: the action was not carried out.",
            ("expired", _) => "Nobody decided in time: the action was not carried out.",
            _ when _finished => "The run ended before anyone decided.",
            _ => null,
        };
    }

    /// <summary>The inbox: the requester finds the action under "My requests", the people who may decide under "Waiting for you".</summary>
    private const string ApprovalsHref = "/approvals";

    private static string ApproverText(string? role) => role switch
    {
        Roles.TenantMember => "a member of this tenant",
        _ => "an admin of this tenant",
    };

    private string StateText => _state switch
    {
        "queued" => "queued",
        "running" => "working",
        "waiting_approval" => "waiting for approval",
        "succeeded" => "finished",
        "failed" => "failed",
        "cancelled" => "cancelled",
        _ => _state,
    };

    private Color StateColor => _state switch
    {
        "succeeded" => Color.Success,
        "failed" => Color.Error,
        "waiting_approval" => Color.Warning,
        _ => Color.Default,
    };

    private static string ResultText(string? state) => state switch
    {
        "completed" => "done",
        "refused" => "refused (not carried out)",
        "rejected" => "not carried out: the approval was refused",
        "failed" => "failed",
        _ => state ?? "",
    };

    private static string DoneText(RunEvent e) => e.Str("state") switch
    {
        "succeeded" => "The run finished.",
        "cancelled" => "The run was cancelled.",
        _ => "The run stopped" + (e.Str("code") is { } code ? $" ({code})." : "."),
    };

    private static string Pretty(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return "";
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            return JsonSerializer.Serialize(doc.RootElement, PrettyJson);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    private static readonly JsonSerializerOptions PrettyJson = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Short(string text) => text.Length <= 1500 ? text : text[..1500] + "…";

    public async ValueTask DisposeAsync() => await StopFollowingAsync();

    /// <summary>One event row with its data parsed once.</summary>
    internal sealed record RunEvent(long Id, string Type, JsonElement Data)
    {
        public static RunEvent From(AgentRunEvent row)
        {
            using var doc = JsonDocument.Parse(row.DataJson);
            return new RunEvent(row.Id, row.Type, doc.RootElement.Clone());
        }

        public string? Str(string name) => Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        public long? Long(string name) => Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

        public bool Bool(string name) => Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
    }
}
