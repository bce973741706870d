using Keystone.Web.Platform;
using Keystone.Data.Identity;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;

namespace Keystone.Web.Features.Traces;

public sealed partial class TraceDetailPage
{
    private readonly CancellationTokenSource _cts = new();
    private TraceDetail? _detail;
    private Guid? _loadedId;
    private TraceRow? _row;
    private bool _notFound;
    private bool _showCurl;
    private string? _curl;
    private bool _isPlatformAdmin;
    private bool _canReadPrompts;
    private string? _rawReason;
    private string? _rawError;
    private RawTrace? _raw;

    /// <summary>The call id (or a trace id, which opens the trace's first call).</summary>
    [Parameter] public Guid Id { get; set; }

    /// <summary>
    /// The call whose opening was already audited in this page's prerender: the interactive render that follows
    /// must not write a second audit entry for the same look.
    /// </summary>
    [PersistentState] public Guid? AuditedId { get; set; }

    [Inject] private TraceViewer Viewer { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private NavigationManager Nav { get; set; } = default!;

    [Inject] private IJSRuntime Js { get; set; } = default!;

    protected override async Task OnParametersSetAsync()
    {
        if (_loadedId == Id)
        {
            return;
        }

        _loadedId = Id;

        _isPlatformAdmin = Tenant.User.IsInRole(Roles.PlatformAdmin);
        _canReadPrompts = Policies.RolesFor[Policies.PromptReader].Any(Tenant.User.IsInRole);
        _raw = null;
        _showCurl = false;
        var audit = AuditedId != Id;
        _detail = await Viewer.OpenAsync(Id, audit, _cts.Token);
        if (_detail is null)
        {
            _notFound = true;
            // Renders the router's not-found page; on the server-rendered request the status is 404.
            Nav.NotFound();
            return;
        }

        AuditedId = Id;
        var c = _detail.Call;
        _row = new TraceRow(c.Id, c.TraceId, c.TenantId, _detail.TenantName, c.CreatedUtc, c.UserId, c.EndUser, c.Feature, c.Alias,
            c.Provider, c.Model, c.PromptName, c.Status, c.ErrorCode, c.FellBack, c.CacheStatus, c.InputTokens, c.OutputTokens,
            c.CostMicros, c.CostStatus, c.BilledTo, c.LatencyMs, c.ReplayOfCallId, _detail.UserName);
    }

    /// <summary>The prompt page, opened on the call's version.</summary>
    internal static string PromptLink(string promptName, int? version)
        => $"/prompts/{Uri.EscapeDataString(promptName)}" + (version is { } v ? $"?version={v}" : "");

    private void ToggleCurl()
    {
        _curl ??= CurlCommand.For(_detail!, Nav.BaseUri);
        _showCurl = !_showCurl;
    }

    private async Task CopyCurlAsync() => await Js.InvokeVoidAsync("navigator.clipboard.writeText", _cts.Token, _curl);

    private async Task ShowRawAsync()
    {
        try
        {
            _raw = await Viewer.OpenRawAsync(_detail!.Call.Id, _rawReason ?? "", _cts.Token);
            _rawError = _raw is null ? "The raw payload is no longer kept." : null;
        }
        catch (ArgumentException ex)
        {
            _rawError = ex.Message;
        }
        catch (UnauthorizedAccessException ex)
        {
            _rawError = ex.Message;
        }
    }

    public void Dispose()
    {
        _cts.Cancel();
        _cts.Dispose();
    }
}
