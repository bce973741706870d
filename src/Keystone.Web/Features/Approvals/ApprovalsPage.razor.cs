using Keystone.Data.Approvals;
using Keystone.Web.Components.Shared;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using MudBlazor;

namespace Keystone.Web.Features.Approvals;

public sealed partial class ApprovalsPage
{
    /// <summary>How often the page re-reads without a notice: expiries, and other instances' changes when their notice was lost.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _cts = new();
    private readonly SemaphoreSlim _loading = new(1, 1);
    private readonly LiveRefresh _refresh = new();
    private InboxContent? _content;
    private bool _mayApprove;
    private int _tab;
    private TimeZoneInfo _zone = TimeZoneInfo.Utc;
    private string? _notice;

    protected override async Task OnInitializedAsync()
    {
        if (Inbox.TenantId is null)
        {
            return;
        }

        _mayApprove = Inbox.MayApproveAny;
        // A request, decision or expiry anywhere in this tenant re-reads the lists: arrivals show without a reload.
        Notices.Changed += OnChanged;
        await LoadAsync();
        // A member with nothing to decide but a request of their own opens on that request.
        if (_mayApprove && _content!.Waiting.Count == 0 && _content.Mine.Count > 0)
        {
            _tab = 1;
        }
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (!firstRender || Inbox.TenantId is null)
        {
            return;
        }

        _refresh.Start(RefreshInterval, Clock, ReloadAsync, _cts.Token);
        try
        {
            // Times in the reader's zone: the browser names it (UTC until it has, and when it cannot).
            await using var module = await JS.InvokeAsync<IJSObjectReference>("import", _cts.Token, "./Features/Approvals/ApprovalsPage.razor.js");
            var zone = LocalTime.Zone(module is null ? null : await module.InvokeAsync<string?>("timeZone", _cts.Token));
            if (zone != _zone)
            {
                _zone = zone;
                StateHasChanged();
            }
        }
        catch (Exception ex) when (ex is JSException or JSDisconnectedException or OperationCanceledException or InvalidOperationException)
        {
            // No browser answer: times stay in UTC and say so.
        }
    }

    private void OnChanged(Guid tenantId)
    {
        if (_cts.IsCancellationRequested || (tenantId != Guid.Empty && tenantId != Inbox.TenantId))
        {
            return;
        }

        // Raised on the publisher's thread: never block it.
        _ = ReloadAsync();
    }

    private async Task ReloadAsync()
    {
        try
        {
            await InvokeAsync(async () =>
            {
                await LoadAsync();
                StateHasChanged();
            });
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The page was closed meanwhile.
        }
    }

    private async Task LoadAsync()
    {
        await _loading.WaitAsync(_cts.Token);
        try
        {
            _content = await Inbox.LoadAsync(_cts.Token);
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>Decides through the service; answers the refusal in words (the card shows it), or null.</summary>
    private async Task<string?> DecideAsync(PendingActionView action, ApprovalVerdict verdict, string? edited, string? comment)
    {
        _notice = null;
        try
        {
            var decided = await Inbox.DecideAsync(action.Id, verdict, edited, comment, _cts.Token);
            Snackbar.Add(decided.Status switch
            {
                PendingActionStatus.Approved => $"Approved: {decided.Summary}",
                _ => verdict == ApprovalVerdict.Reject && decided.DecidedById == action.OnBehalfOfUserId && !_content!.Waiting.Any(w => w.Id == action.Id)
                    ? $"Withdrawn: {decided.Summary}"
                    : $"Rejected: {decided.Summary}",
            }, decided.Status == PendingActionStatus.Approved ? Severity.Success : Severity.Info);
            if (decided.HandlerError is not null)
            {
                Snackbar.Add("The decision is saved, but handing it back to the agent failed; it will be retried (see History).", Severity.Warning);
            }

            // The card called back through a plain delegate: this page re-renders only when told.
            await LoadAsync();
            StateHasChanged();
            return null;
        }
        catch (ApprovalException ex)
        {
            // Someone else decided first, it expired, or the edit is not JSON: say so, and show the lists as they are now.
            // The card leaves the list when someone else decided first: the page keeps the answer in view.
            _notice = ex.Message;
            await LoadAsync();
            StateHasChanged();
            return ex.Message;
        }
    }

    private static Color OutcomeColor(string status) => status switch
    {
        PendingActionStatus.Approved => Color.Success,
        PendingActionStatus.Rejected => Color.Error,
        _ => Color.Default,
    };

    private static string OutcomeText(PendingActionView v) => v.Status switch
    {
        PendingActionStatus.Approved => $"approved by {v.DecidedByName ?? v.DecidedById}",
        PendingActionStatus.Rejected when v.DecidedById == v.OnBehalfOfUserId => $"withdrawn by {v.DecidedByName ?? v.DecidedById}",
        PendingActionStatus.Rejected => $"rejected by {v.DecidedByName ?? v.DecidedById}",
        PendingActionStatus.Cancelled => $"cancelled with its run by {v.DecidedByName ?? v.DecidedById}",
        _ => "expired",
    };

    public async ValueTask DisposeAsync()
    {
        Notices.Changed -= OnChanged;
        await _cts.CancelAsync();
        _refresh.Dispose();
        _cts.Dispose();
    }
}
