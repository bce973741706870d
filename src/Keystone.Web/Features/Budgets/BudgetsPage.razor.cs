using Keystone.Gateway;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Providers;
using Keystone.Web.Components.Shared;
using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Keystone.Web.Features.Budgets;

public sealed partial class BudgetsPage
{
    private readonly CancellationTokenSource _cts = new();
    private readonly LiveRefresh _refresh = new();
    private IReadOnlyList<BudgetCapListing>? _caps;
    private TenantBudget? _budget;
    private IReadOnlyList<ProviderCredentialInfo>? _providerKeys;
    private IReadOnlyList<BudgetAlert>? _alerts;
    private IReadOnlyList<ProviderChoice> _providers = [];
    private DateTime? _loadedAt;
    private bool _busy;

    private BudgetScope _scope = BudgetScope.Tenant;
    private string? _key;
    private BudgetPeriod _period = BudgetPeriod.Month;
    private decimal? _limitUsd;
    private string? _capError;

    private string _thresholds = "";
    private BudgetAction _action = BudgetAction.Block;
    private string? _policyError;

    private int? _userRate;
    private string? _userRateError;

    private string? _provider;
    private string? _providerKey;
    private string? _byokError;
    private string? _byokWarning;

    [Inject] private ISnackbar Snackbar { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        if (Budgets.TenantId is null)
        {
            return;
        }

        // A threshold crossed on this instance shows at once (the audit log keeps it for the list and other instances).
        Events.ThresholdCrossed += OnThresholdCrossed;
        _providers = Budgets.Providers();
        _provider = _providers.Count > 0 ? _providers[0].Name : null;
        await LoadAsync(_cts.Token);
        _thresholds = string.Join(", ", _budget!.SoftThresholdsPercent);
        _action = _budget.ActionAtLimit;
        _userRate = _budget.UserRequestsPerMinute;
    }

    protected override void OnAfterRender(bool firstRender)
    {
        // Interactive only (after-render never runs while prerendering): spend refreshes without a reload.
        if (firstRender && Budgets.TenantId is not null)
        {
            var ct = _cts.Token;
            _refresh.Start(TimeSpan.FromSeconds(Options.Value.UsageRefreshSeconds), Clock, () => InvokeAsync(async () =>
            {
                await LoadAsync(ct);
                StateHasChanged();
            }), ct);
        }
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        (_caps, _budget) = await Budgets.GetAsync(ct);
        _providerKeys = await Budgets.ProviderKeysAsync(ct);
        _alerts = await Budgets.AlertsAsync(ct);
        _loadedAt = Clock.GetUtcNow().UtcDateTime;
    }

    private void OnThresholdCrossed(object? sender, Keystone.Gateway.Budgets.BudgetThresholdCrossed e)
    {
        if (e.TenantId != Budgets.TenantId || _cts.IsCancellationRequested)
        {
            return;
        }

        // Raised on the gateway's thread: never block it, and never let a closed page's failure reach it.
        _ = ShowAlertAsync(e);
    }

    private async Task ShowAlertAsync(Keystone.Gateway.Budgets.BudgetThresholdCrossed e)
    {
        try
        {
            await InvokeAsync(async () =>
            {
                Snackbar.Add($"{e.ThresholdPercent}% of {BudgetSettingsService.AppliesTo(e.Scope, e.Key)}'s cap reached.",
                    e.ThresholdPercent >= 100 ? Severity.Error : Severity.Warning);
                await LoadAsync(_cts.Token);
                StateHasChanged();
            });
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The page was closed meanwhile.
        }
    }

    private Task SetCapAsync() => RunAsync(async () =>
    {
        await Budgets.SetCapAsync(_scope, _key, _period, _limitUsd, _cts.Token);
        _limitUsd = null;
        _key = null;
        Snackbar.Add("Cap saved. Calls count against it from now on.", Severity.Success);
    }, e => _capError = e);

    private Task RemoveCapAsync(BudgetCapStatus cap) => RunAsync(async () =>
    {
        await Budgets.RemoveCapAsync(cap, _cts.Token);
        Snackbar.Add("Cap removed.", Severity.Info);
    }, e => _capError = e);

    private Task SetPolicyAsync() => RunAsync(async () =>
    {
        await Budgets.SetPolicyAsync(_thresholds, _action, _cts.Token);
        Snackbar.Add("Saved.", Severity.Success);
    }, e => _policyError = e);

    private Task SetUserRateAsync() => RunAsync(async () =>
    {
        await Budgets.SetUserRateAsync(_userRate, _cts.Token);
        Snackbar.Add(_userRate is { } rpm ? $"Each user may now make {rpm} requests a minute." : "Users are back on the platform's limit.", Severity.Success);
    }, e => _userRateError = e);

    private Task SetProviderKeyAsync() => RunAsync(async () =>
    {
        ProviderCredentialInfo saved;
        try
        {
            saved = await Budgets.SetProviderKeyAsync(_provider ?? "", _providerKey, _cts.Token);
        }
        catch (ProviderKeyRejectedException)
        {
            // A refused key may still be a real (revoked) secret: it leaves the page's state as a saved one does.
            _providerKey = null;
            throw;
        }

        // The secret leaves the page's state at once: it is never shown again, only its last four characters.
        _providerKey = null;
        if (saved.Verified)
        {
            Snackbar.Add($"{saved.Provider} accepted your key ({saved.Masked}); it is saved and the next calls to {saved.Provider} use it.", Severity.Success);
        }
        else
        {
            // Saved anyway: a provider outage must not stop a rotation, but the admin should know nothing vouched for the key.
            _byokWarning = $"Your {saved.Provider} key ({saved.Masked}) is saved, but it could not be verified: {saved.CheckReason} "
                + "The next calls to it will use it; use Test again once the provider answers.";
        }
    }, e => _byokError = e);

    private Task TestProviderKeyAsync(string provider) => RunAsync(async () =>
    {
        var tested = await Budgets.TestProviderKeyAsync(provider, _cts.Token);
        if (tested.Verified)
        {
            Snackbar.Add($"{tested.Provider} accepted your key ({tested.Masked}).", Severity.Success);
        }
        else
        {
            _byokWarning = tested.CheckResult == ProviderKeyCheck.CodeOf(ProviderKeyCheckResult.Rejected)
                ? $"{tested.Provider} refused your key ({tested.Masked}): {tested.CheckReason} Calls to {tested.Provider} fail until you replace or remove it."
                : $"Your {tested.Provider} key ({tested.Masked}) could not be verified: {tested.CheckReason}";
        }
    }, e => _byokError = e);

    private Task RemoveProviderKeyAsync(string provider) => RunAsync(async () =>
    {
        await Budgets.RemoveProviderKeyAsync(provider, _cts.Token);
        Snackbar.Add($"Your {provider} key is removed; calls to {provider} use the platform's key again.", Severity.Info);
    }, e => _byokError = e);

    /// <summary>Runs one change and reloads; a refused one shows its reason next to its form.</summary>
    private async Task RunAsync(Func<Task> change, Action<string?> error)
    {
        _busy = true;
        _capError = _policyError = _userRateError = _byokError = _byokWarning = null;
        try
        {
            await change();
            await LoadAsync(_cts.Token);
        }
        catch (BudgetSettingsException ex)
        {
            error(ex.Message);
        }
        finally
        {
            _busy = false;
        }
    }

    private static Color CheckColor(string? result) => result switch
    {
        "accepted" => Color.Success,
        "rejected" => Color.Error,
        null => Color.Default,
        _ => Color.Warning,
    };

    private static Color UsedColor(BudgetCapStatus c) => c.UsedFraction >= 1 ? Color.Error : c.UsedFraction >= 0.8 ? Color.Warning : Color.Primary;

    private static string Percent(double share)
        => share is > 0 and < 0.01 ? "under 1%" : (share * 100).ToString("0", System.Globalization.CultureInfo.InvariantCulture) + "%";

    private static string CapId(BudgetCapStatus c)
        => $"{c.Scope}-{c.Key}-{c.Period}".ToLowerInvariant() is var s ? new string(s.Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '-').ToArray()) : "";

    public async ValueTask DisposeAsync()
    {
        Events.ThresholdCrossed -= OnThresholdCrossed;
        await _cts.CancelAsync();
        _refresh.Dispose();
        _cts.Dispose();
    }

    /// <summary>How long ago, in words ("just now", "12 min ago", "3 h ago"), so the time needs no zone.</summary>
    private string Ago(DateTime utc)
    {
        var ago = Clock.GetUtcNow().UtcDateTime - utc;
        return ago.TotalMinutes < 1 ? "just now" : ago.TotalHours < 1 ? $"{(int)ago.TotalMinutes} min ago" : ago.TotalDays < 1 ? $"{(int)ago.TotalHours} h ago" : $"{(int)ago.TotalDays} days ago";
    }
}
