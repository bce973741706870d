using Keystone.Gateway;
using Keystone.Web.Components.Shared;
using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Keystone.Web.Features.Budgets;

/// <summary>Confirmation before removing a cap (issue 21): once removed, nothing stops that spending at this limit.</summary>
public sealed partial class BudgetsPage
{
    [Inject] private IDialogService Dialogs { get; set; } = default!;

    private async Task ConfirmRemoveCapAsync(BudgetCapStatus cap, string appliesTo)
    {
        var period = cap.Period == BudgetPeriod.Day ? "day" : "month";
        var message = $"Calls under {appliesTo} are no longer stopped at {Money.Format(cap.LimitMicros)} a {period}, from the next call; only the other caps still apply.";
        if (await Dialogs.ShowMessageBoxAsync($"Remove the {period} cap on {appliesTo}?", message, yesText: "Remove cap", cancelText: "Cancel") == true)
        {
            await RemoveCapAsync(cap);
        }
    }
}
