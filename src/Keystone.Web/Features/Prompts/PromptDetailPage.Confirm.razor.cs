using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// Confirmation before the prompt actions that change what production answers with (issue 21): activating a version
/// for every tenant and rolling back. Each dialog says what will change and from when; cancelling changes nothing.
/// </summary>
public sealed partial class PromptDetailPage
{
    [Inject] private IDialogService Dialogs { get; set; } = default!;

    [Inject] private IPromptActivationGate Gate { get; set; } = default!;

    /// <summary>
    /// Activating globally asks first. With an eval set the activation gate's dialog asks (both scores, runs' progress,
    /// the verdict, an override with a reason); without one the plain confirmation says there is no set to gate on.
    /// </summary>
    private async Task ConfirmActivateGlobalAsync()
    {
        if (_selected is not { } v || _detail is not { } d)
        {
            return;
        }

        var current = d.ActiveGlobalVersion is { } n ? $"version {n}" : "no version";
        var message = $"Every call that uses “{Name}” in a tenant without its own override gets version {v.Number} from its next call, in place of {current}. You can roll back afterwards.";
        if (await ProbeGateAsync(v.Number, null) is not { } probe)
        {
            return;
        }

        if (probe.Verdict != ActivationGateVerdict.NoSet)
        {
            await GateDialogAsync(v.Number, null, message);
        }
        else if (await Dialogs.ShowMessageBoxAsync($"Activate version {v.Number} for every tenant?", $"{message} {probe.Message}", yesText: "Activate globally", cancelText: "Cancel") == true)
        {
            await ActivateAsync(null);
        }
    }

    /// <summary>A tenant override goes through the gate's dialog when the prompt has a set; without one it activates at once (and says no set gated it).</summary>
    private async Task ConfirmActivateTenantAsync(Guid tenantId)
    {
        if (_selected is not { } v || await ProbeGateAsync(v.Number, tenantId) is not { } probe)
        {
            return;
        }

        if (probe.Verdict == ActivationGateVerdict.NoSet)
        {
            await ActivateAsync(tenantId);
        }
        else
        {
            await GateDialogAsync(v.Number, tenantId, $"Calls that use “{Name}” for {TenantName(tenantId)} get version {v.Number} from their next call. You can roll back afterwards.");
        }
    }

    /// <summary>The gate's verdict without starting runs (is there a set at all?); null, with the error shown, when it cannot tell.</summary>
    private async Task<ActivationGateCheck?> ProbeGateAsync(int version, Guid? tenantId)
    {
        _error = null;
        try
        {
            return await Gate.CheckAsync(Name, version, tenantId, startRuns: false, _cts.Token);
        }
        catch (Exception ex) when (ex is PromptException or UnauthorizedAccessException)
        {
            _error = ex.Message;
            return null;
        }
    }

    private async Task GateDialogAsync(int version, Guid? tenantId, string scope)
    {
        var parameters = new DialogParameters<ActivationGateDialog>
        {
            { x => x.PromptName, Name },
            { x => x.Version, version },
            { x => x.TenantId, tenantId },
            { x => x.Scope, scope },
        };
        var title = tenantId is { } t ? $"Activate version {version} for {TenantName(t)}?" : $"Activate version {version} for every tenant?";
        var dialog = await Dialogs.ShowAsync<ActivationGateDialog>(title, parameters, new DialogOptions { MaxWidth = MaxWidth.Medium, FullWidth = true });
        if (await dialog.Result is { Canceled: false, Data: ActivationGateCheck check })
        {
            await ReloadAsync();
            await LoadTrafficAsync();
            var scopeText = tenantId is { } tt ? $"for {TenantName(tt)}" : "globally";
            _message = check.Passes ? $"Version {version} is now active {scopeText}. {check.Message}" : $"Version {version} is now active {scopeText}, overriding the gate (audited with your reason).";
        }
    }

    private async Task ConfirmRollbackAsync(Guid? tenantId)
    {
        var scope = tenantId is null ? "every tenant without its own override" : TenantName(tenantId.Value);
        var message = $"“{Name}” goes back to the version that was active before the current one for {scope}, from the next call.";
        if (await Dialogs.ShowMessageBoxAsync(tenantId is null ? "Roll back the global version?" : $"Roll back for {TenantName(tenantId.Value)}?", message, yesText: "Roll back", cancelText: "Cancel") == true)
        {
            await RollbackAsync(tenantId);
        }
    }
}
