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

    private async Task ConfirmActivateGlobalAsync()
    {
        if (_selected is not { } v || _detail is not { } d)
        {
            return;
        }

        var current = d.ActiveGlobalVersion is { } n ? $"version {n}" : "no version";
        var message = $"Every call that uses “{Name}” in a tenant without its own override gets version {v.Number} from its next call, in place of {current}. You can roll back afterwards.";
        if (await Dialogs.ShowMessageBoxAsync($"Activate version {v.Number} for every tenant?", message, yesText: "Activate globally", cancelText: "Cancel") == true)
        {
            await ActivateAsync(null);
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
