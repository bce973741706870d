using Keystone.Gateway;

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
            long? capMicros = _capUsd is { } usd ? (long)decimal.Round(usd * 1_000_000m) : null;
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

    private async Task RevokeAsync(Guid id)
    {
        _confirmRevoke = null;
        await Keys.RevokeAsync(id, CancellationToken.None);
        await LoadAsync();
    }

    // Console display only; storage and arithmetic stay in integer micro-USD.
    private static string Usd(long micros) => (micros / 1_000_000m).ToString("$0.00####", System.Globalization.CultureInfo.InvariantCulture);
}
