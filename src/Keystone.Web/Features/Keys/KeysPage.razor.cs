using Keystone.Gateway;
using Keystone.Web.Components.Shared;

namespace Keystone.Web.Features.Keys;

public sealed partial class KeysPage
{
    private IReadOnlyList<ApiKeyRow>? _keys;
    private CreatedApiKey? _created;
    private string? _error;
    private bool _busy;
    private Guid? _confirmRevoke;
    private string _name = "";
    private HashSet<string> _scopes = [ApiKeyScopes.Chat, ApiKeyScopes.Embeddings];
    private int? _rpm;
    private decimal? _capUsd;
    private BudgetPeriod _capPeriod = BudgetPeriod.Month;
    private Guid? _editing;
    private int? _editRpm;
    private decimal? _editCapUsd;
    private BudgetPeriod _editCapPeriod = BudgetPeriod.Month;
    private string? _editError;

    protected override async Task OnInitializedAsync()
    {
        if (Tenant.TenantId is not null)
        {
            await LoadAsync();
        }
    }

    private async Task LoadAsync() => _keys = await Keys.ListAsync(CancellationToken.None);

    private void Toggle(string scope, bool on)
    {
        if (on)
        {
            _scopes.Add(scope);
        }
        else
        {
            _scopes.Remove(scope);
        }
    }

    private async Task CreateAsync()
    {
        _busy = true;
        _error = null;
        try
        {
            var capMicros = Money.MicrosFromDollars(_capUsd);
            _created = await Keys.CreateAsync(new NewApiKey(_name, [.. _scopes], _rpm, capMicros, _capPeriod), CancellationToken.None);
            _name = "";
            _rpm = null;
            _capUsd = null;
            await LoadAsync();
        }
        catch (ApiKeyValidationException ex)
        {
            _error = ex.Message;
        }
        catch (GatewayException ex)
        {
            _error = ex.Error.Message;
        }
        finally
        {
            _busy = false;
        }
    }

    private void StartEdit(ApiKeyRow key)
    {
        _editing = key.Id;
        _editError = null;
        _editRpm = key.RequestsPerMinute;
        var cap = key.Caps.Count > 0 ? key.Caps[0] : null;
        _editCapUsd = cap is null ? null : cap.LimitMicros / 1_000_000m;
        _editCapPeriod = cap?.Period ?? BudgetPeriod.Month;
    }

    private void CancelEdit()
    {
        _editing = null;
        _editError = null;
    }

    private async Task SaveLimitsAsync(Guid id)
    {
        _busy = true;
        _editError = null;
        try
        {
            // A cap that rounds to zero micro-USD is refused by the service like an explicit $0.
            var capMicros = Money.MicrosFromDollars(_editCapUsd);
            await Keys.SetLimitsAsync(id, _editRpm, capMicros, _editCapPeriod, CancellationToken.None);
            _editing = null;
            await LoadAsync();
        }
        catch (ApiKeyValidationException ex)
        {
            _editError = ex.Message;
        }
        catch (GatewayException ex)
        {
            _editError = ex.Error.Message;
        }
        finally
        {
            _busy = false;
        }
    }

    private async Task RevokeAsync(Guid id)
    {
        _confirmRevoke = null;
        await Keys.RevokeAsync(id, CancellationToken.None);
        await LoadAsync();
    }

    // Console display only; storage and arithmetic stay in integer micro-USD.
    private static string Usd(long micros) => (micros / 1_000_000m).ToString("$0.00####", System.Globalization.CultureInfo.InvariantCulture);
}
