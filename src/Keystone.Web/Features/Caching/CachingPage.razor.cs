using Keystone.Gateway;
using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Keystone.Web.Features.Caching;

public sealed partial class CachingPage
{
    private IReadOnlyList<CachingRow>? _rows;
    private string? _newFeature;
    private string? _error;
    private bool _busy;

    [Inject] private ISnackbar Snackbar { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        if (Caching.TenantId is not null)
        {
            _rows = await Caching.ListAsync(CancellationToken.None);
        }
    }

    private async Task SaveAsync(CachingRow row, FeatureCacheSettings changed)
    {
        await RunAsync(async () =>
        {
            var saved = await Caching.SaveAsync(changed, row.Settings, CancellationToken.None);
            _rows = _rows!.Select(r => ReferenceEquals(r, row) ? r with { Settings = saved } : r).ToList();
            Snackbar.Add($"Saved: {saved.Feature} now {Describe(saved)}.", Severity.Success);
        });
    }

    private async Task ResetAsync(string feature)
    {
        await RunAsync(async () =>
        {
            await Caching.ResetAsync(feature, CancellationToken.None);
            _rows = await Caching.ListAsync(CancellationToken.None);
            Snackbar.Add($"{feature} uses the platform's default caching again.", Severity.Info);
        });
    }

    private async Task AddAsync()
    {
        var name = _newFeature?.Trim() ?? "";
        if (_rows!.FirstOrDefault(r => r.Settings.Feature.Equals(name, StringComparison.OrdinalIgnoreCase)) is { } existing)
        {
            _error = $"{existing.Settings.Feature} is already listed: change its switches in the table.";
            return;
        }

        await RunAsync(async () =>
        {
            // Starts from what applies to the feature now (the defaults, for one nobody configured) as the tenant's own setting.
            await Caching.SaveAsync(await Caching.EffectiveAsync(name, CancellationToken.None), null, CancellationToken.None);
            _rows = await Caching.ListAsync(CancellationToken.None);
            _newFeature = null;
        });
    }

    /// <summary>Runs one change; a refused one shows why and reloads, so the switches show what is saved.</summary>
    private async Task RunAsync(Func<Task> change)
    {
        _busy = true;
        _error = null;
        try
        {
            await change();
        }
        catch (CacheSettingsValidationException ex)
        {
            _error = ex.Message;
            _rows = await Caching.ListAsync(CancellationToken.None);
        }
        catch (GatewayException ex) when (ex.Error.HttpStatus == 409)
        {
            // Someone else saved the same feature at the same moment: say so in plain words and show what is saved now.
            _error = ex.Error.Message;
            _rows = await Caching.ListAsync(CancellationToken.None);
        }
        finally
        {
            _busy = false;
        }
    }

    private static string Describe(FeatureCacheSettings s)
    {
        var parts = new List<string>();
        if (s.CacheEveryRequest)
        {
            parts.Add("every repeat cached");
        }
        else if (s.CacheAtTemperatureZero)
        {
            parts.Add("repeats at temperature 0 cached");
        }

        if (s.SemanticCache)
        {
            parts.Add($"similar questions at ≥ {s.SemanticThreshold:0.00}");
        }

        return parts.Count == 0 ? "never answered from cache" : string.Join(", ", parts);
    }

    private static string Percent(double share, string format) => (share * 100).ToString(format, System.Globalization.CultureInfo.InvariantCulture) + "%";

    private static string Slug(string feature) => new(feature.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-').ToArray());
}
