using Keystone.Gateway;
using Keystone.Web.Components.Shared;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Keys;

public sealed partial class KeysPage
{
    // Keys that expire within this many days are flagged so nobody learns of it from their own outage.
    private const int ExpiryWarningDays = 7;

    private static readonly (TimeSpan Overlap, string Label)[] RotationOverlaps =
    [
        (TimeSpan.Zero, "stops now"),
        (TimeSpan.FromHours(1), "for 1 hour"),
        (TimeSpan.FromHours(24), "for 24 hours"),
        (TimeSpan.FromDays(7), "for 7 days"),
    ];

    private IReadOnlyList<ApiKeyRow>? _keys;
    private CreatedApiKey? _created;
    private bool _createdByRotation;
    private string? _error;
    private bool _busy;
    private Guid? _confirmRevoke;
    private string _name = "";
    private HashSet<string> _scopes = [ApiKeyScopes.Chat, ApiKeyScopes.Embeddings];
    private int? _rpm;
    private decimal? _capUsd;
    private BudgetPeriod _capPeriod = BudgetPeriod.Month;
    private DateTime? _expiresOn;
    private IReadOnlyCollection<string> _models = [];
    private IReadOnlyCollection<string> _editModels = [];
    private IReadOnlyList<string> _modelChoices = [];
    private Guid? _editing;
    private int? _editRpm;
    private decimal? _editCapUsd;
    private BudgetPeriod _editCapPeriod = BudgetPeriod.Month;
    private DateTime? _editExpiresOn;
    private string? _editError;
    private Guid? _rotating;
    private TimeSpan _rotateOverlap = TimeSpan.FromHours(24);
    private string? _rotateError;

    private DateTime Now => Clock.GetUtcNow().UtcDateTime;

    protected override async Task OnInitializedAsync()
    {
        if (Tenant.TenantId is not null)
        {
            await LoadAsync();
        }
    }

    private async Task LoadAsync()
    {
        _keys = await Keys.ListAsync(CancellationToken.None);
        _modelChoices = await Keys.ModelChoicesAsync(CancellationToken.None);
    }

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
            _created = await Keys.CreateAsync(new NewApiKey(_name, [.. _scopes], _rpm, capMicros, _capPeriod, ExpiryOf(_expiresOn), [.. _models]), CancellationToken.None);
            _createdByRotation = false;
            _name = "";
            _rpm = null;
            _capUsd = null;
            _expiresOn = null;
            _models = [];
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
        _editExpiresOn = key.ExpiresUtc?.Date;
        _editModels = key.AllowedModels?.Order(StringComparer.OrdinalIgnoreCase).ToList() ?? [];
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
            var expires = ExpiryOf(_editExpiresOn);
            var changed = expires != _keys?.FirstOrDefault(k => k.Id == id)?.ExpiresUtc;
            // Both inputs are checked before either is saved: a refused date leaves the limits untouched and the
            // other way round (SetLimitsAsync checks its own before writing).
            if (changed)
            {
                Keys.ValidateExpiry(expires);
            }

            await Keys.SetLimitsAsync(id, _editRpm, capMicros, _editCapPeriod, CancellationToken.None);
            var models = ApiKeyModels.Format(_editModels);
            if (models != ApiKeyModels.Format(_keys?.FirstOrDefault(k => k.Id == id)?.AllowedModels))
            {
                await Keys.SetModelsAsync(id, [.. _editModels], CancellationToken.None);
            }

            if (changed)
            {
                await Keys.SetExpiryAsync(id, expires, CancellationToken.None);
            }
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

    private void StartRotate(Guid id)
    {
        _rotating = id;
        _rotateError = null;
        _rotateOverlap = TimeSpan.FromHours(24);
    }

    private async Task RotateAsync(Guid id)
    {
        _busy = true;
        _rotateError = null;
        try
        {
            _created = await Keys.RotateAsync(id, _rotateOverlap, CancellationToken.None);
            _createdByRotation = true;
            _rotating = null;
            await LoadAsync();
        }
        catch (ApiKeyValidationException ex)
        {
            _rotateError = ex.Message;
        }
        finally
        {
            _busy = false;
        }
    }

    private static string OverlapLabel(TimeSpan overlap)
        => RotationOverlaps.FirstOrDefault(r => r.Overlap == overlap).Label ?? overlap.ToString();

    // A picked day means "stops working at 00:00 UTC that day"; the picker's value carries no time zone.
    private static DateTime? ExpiryOf(DateTime? day) => day is { } d ? DateTime.SpecifyKind(d.Date, DateTimeKind.Utc) : null;

    private string ExpiresIn(DateTime expiresUtc)
    {
        var left = expiresUtc - Now;
        return left.TotalHours < 24 ? $"expires in {Math.Max(1, (int)Math.Ceiling(left.TotalHours))} h" : $"expires in {(int)Math.Ceiling(left.TotalDays)} d";
    }

    private async Task RevokeAsync(Guid id)
    {
        _confirmRevoke = null;
        await Keys.RevokeAsync(id, CancellationToken.None);
        await LoadAsync();
    }
}
