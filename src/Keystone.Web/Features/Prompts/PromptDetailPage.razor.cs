using Keystone.Web.Platform;
using Keystone.Data.Prompts;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Prompts;

public sealed partial class PromptDetailPage
{
    private readonly CancellationTokenSource _cts = new();
    private PromptDetail? _detail;
    private PromptVersion? _selected;
    private IReadOnlyList<PromptTenantOption> _tenants = [];
    private Guid? _tenantId;
    private PromptVersionForm? _form;
    private Dictionary<string, string> _samples = new(StringComparer.Ordinal);
    private string? _newSample;
    private string? _samplesError;
    private IReadOnlyList<string> _aliases = [];
    private PromptCostEstimate? _estimate;
    private PromptTraffic? _traffic;
    private CacheAdvice? _advice;
    private Guid? _pricingTenant;
    private int _diffLeft;
    private int _diffRight;
    private string? _formError;
    private string? _message;
    private string? _error;
    private bool _busy;
    private bool _canEdit;
    private bool _notFound;
    private string? _loadedName;

    /// <summary>The prompt's name (route).</summary>
    [Parameter] public string Name { get; set; } = "";

    /// <summary>
    /// The version to show (<c>?version=2</c>, from a trace's prompt link); the active global version when absent. Read
    /// as text: a query the framework cannot bind to a number would fail the whole page, where a version that is not a
    /// number or does not exist should just show the active one.
    /// </summary>
    [SupplyParameterFromQuery(Name = "version")] public string? VersionQuery { get; set; }

    private int? Version => int.TryParse(VersionQuery, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null;

    [Inject] private PromptCatalog Catalog { get; set; } = default!;

    [Inject] private NavigationManager Nav { get; set; } = default!;

    [Inject] private PromptWorkbench Workbench { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    /// <summary>Panels other features add to the page (the evals feature's tolerance, drift and trend).</summary>
    [Inject] private IEnumerable<PromptPagePanel> Panels { get; set; } = default!;

    /// <summary>Days of real traffic the cost panel shows for the active version.</summary>
    public const int TrafficDays = 7;

    private IReadOnlyCollection<string> Declared => _samples.Keys.ToHashSet(StringComparer.Ordinal);

    protected override async Task OnParametersSetAsync()
    {
        if (_loadedName != Name)
        {
            _loadedName = Name;
            _canEdit = Catalog.CanEdit;
            await ReloadAsync();
            if (_detail is null)
            {
                _notFound = true;
                Nav.NotFound();
                return;
            }

            _tenants = await Catalog.TenantsAsync(_cts.Token);
            // Aliases and prices are resolved as the tenant in scope would see them; a platform user outside any
            // tenant sees them as the first tenant does (aliases are configured globally unless a tenant overrides them).
            _pricingTenant = Tenant.TenantId ?? (_tenants.Count > 0 ? _tenants[0].Id : null);
            _aliases = _pricingTenant is { } t ? await Workbench.AliasesAsync(t, _cts.Token) : [];
            _samples = new Dictionary<string, string>(PromptCatalog.SamplesOf(_detail.Prompt), StringComparer.Ordinal);
            if (_samples.Count == 0 && _detail.Versions.Count > 0)
            {
                // Nothing saved yet: declare what the newest version uses, with empty samples to fill in.
                foreach (var name in Variables(_detail.Versions[0]))
                {
                    _samples[name] = "";
                }
            }

            await LoadTrafficAsync();
        }

        Select(Version ?? _detail?.ActiveGlobalVersion ?? (_detail is { Versions.Count: > 0 } dd ? dd.Versions[0].Number : null));
        ResetDiff();
        await RecomputeAsync();
    }

    /// <summary>Compares the active version (left) with the shown one (right); the newest two when they are the same.</summary>
    private void ResetDiff()
    {
        if (_detail is not { Versions.Count: > 1 } d)
        {
            return;
        }

        _diffRight = _selected?.Number ?? d.Versions[0].Number;
        _diffLeft = d.ActiveGlobalVersion is { } active && active != _diffRight ? active : d.Versions.First(v => v.Number != _diffRight).Number;
    }

    /// <summary>The version in the repository's file format, as a data URL the browser downloads (no server round trip).</summary>
    private string FileHref(PromptDetail detail, PromptVersion version)
        => "data:text/markdown;charset=utf-8," + Uri.EscapeDataString(PromptFileFormat.Write(detail.Prompt, version, _samples.Keys.Order(StringComparer.Ordinal).ToList()));

    private async Task LoadTrafficAsync()
    {
        var active = _detail?.ActiveGlobalVersion is { } n ? _detail.Versions.FirstOrDefault(v => v.Number == n) : null;
        _traffic = active is null ? PromptTraffic.None(TrafficDays) : await Workbench.VersionTrafficAsync(active.Id, TrafficDays, _cts.Token);
    }

    /// <summary>Prices the draft being edited, else the shown version, with the current samples.</summary>
    private async Task RecomputeAsync()
    {
        var draft = _form?.ToDraft() ?? (_selected is { } s ? new PromptDraft(s.SystemTemplate, s.UserTemplate, s.ModelAlias, s.MaxTokens) : null);
        if (draft is null || _pricingTenant is not { } tenantId)
        {
            _estimate = null;
            return;
        }

        _estimate = await Workbench.EstimateAsync(draft, _samples, tenantId, _cts.Token);
        _advice = _estimate.Problem is null ? await Workbench.AdviseAsync(Name, draft, _estimate, _cts.Token) : null;
    }

    /// <summary>Applies the advisor's static-first layout to the draft (starting one from the shown version when none is open).</summary>
    private async Task ApplyStaticFirstAsync()
    {
        if (_advice?.Reorder is not { } layout)
        {
            return;
        }

        if (_form is null && _selected is { } s)
        {
            _form = PromptVersionForm.From(s);
        }

        if (_form is { } f)
        {
            f.SystemTemplate = layout.System;
            f.UserTemplate = layout.User;
            f.Note ??= "Static-first: fixed instructions before the variables, so the provider's prompt cache can reuse them.";
            _message = $"Moved {layout.Moved} paragraph(s) holding variables after the fixed text. Check the preview and the diff, then save the version.";
        }

        await RecomputeAsync();
    }

    private async Task SampleChangedAsync(string key, string? value)
    {
        _samples[key] = value ?? "";
        await RecomputeAsync();
    }

    private async Task RemoveSampleAsync(string key)
    {
        _samples.Remove(key);
        await RecomputeAsync();
    }

    private async Task AddSampleAsync()
    {
        _samplesError = null;
        var name = _newSample?.Trim() ?? "";
        if (!PromptTemplate.IsVariableName(name))
        {
            _samplesError = $"'{name}' is not a variable name: use letters, digits, _ . - and start with a letter or _.";
            return;
        }

        _samples.TryAdd(name, "");
        _newSample = null;
        await RecomputeAsync();
    }

    private async Task SaveSamplesAsync()
    {
        _samplesError = null;
        try
        {
            await Catalog.SaveSamplesAsync(Name, _samples, _cts.Token);
            _message = "Sample variables saved.";
        }
        catch (PromptException ex)
        {
            _samplesError = ex.Message;
        }
        catch (UnauthorizedAccessException ex)
        {
            _samplesError = ex.Message;
        }
    }

    private async Task ReloadAsync() => _detail = await Catalog.GetAsync(Name, _cts.Token);

    private async Task SelectAsync(int number)
    {
        Select(number);
        ResetDiff();
        if (_form is null)
        {
            await RecomputeAsync();
        }
    }

    private void Select(int? number) => _selected = _detail?.Versions.FirstOrDefault(v => v.Number == number) ?? (_detail is { Versions.Count: > 0 } d ? d.Versions[0] : null);

    private static List<string> Variables(PromptVersion v)
        => PromptTemplate.Variables(v.SystemTemplate).Concat(PromptTemplate.Variables(v.UserTemplate)).Distinct(StringComparer.Ordinal).ToList();

    private async Task StartNewVersionAsync(PromptVersion from)
    {
        _formError = null;
        _form = PromptVersionForm.From(from);
        await RecomputeAsync();
    }

    private async Task CancelEditAsync()
    {
        _form = null;
        await RecomputeAsync();
    }

    private async Task SaveVersionAsync()
    {
        if (_form is not { } f)
        {
            return;
        }

        await RunAsync(async () =>
        {
            var created = await Catalog.CreateVersionAsync(Name, f.ToNewVersion(), _cts.Token);
            _form = null;
            await ReloadAsync();
            Select(created.Number);
            ResetDiff();
            await RecomputeAsync();
            return $"Version {created.Number} saved. It is not active until you activate it.";
        }, toForm: true);
    }

    private Task ActivateAsync(Guid? tenantId) => RunAsync(async () =>
    {
        var number = _selected!.Number;
        // Through the gate, which refuses a set-gated activation that did not pass its dialog (no silent bypass).
        var check = await Gate.ActivateAsync(Name, number, tenantId, null, _cts.Token);
        await ReloadAsync();
        await LoadTrafficAsync();
        return (tenantId is null ? $"Version {number} is now active globally." : $"Version {number} is now active for {TenantName(tenantId.Value)}.") + $" {check.Message}";
    });

    private Task RollbackAsync(Guid? tenantId) => RunAsync(async () =>
    {
        var number = await Catalog.RollbackAsync(Name, tenantId, _cts.Token);
        await ReloadAsync();
        await LoadTrafficAsync();
        var scope = tenantId is null ? "globally" : $"for {TenantName(tenantId.Value)}";
        return number is { } n ? $"Rolled back: version {n} is active {scope} again." : $"Rolled back: {TenantName(tenantId!.Value)} follows the global version again.";
    });

    private Task RemoveOverrideAsync(Guid tenantId) => RunAsync(async () =>
    {
        await Catalog.RemoveOverrideAsync(Name, tenantId, _cts.Token);
        await ReloadAsync();
        return $"{TenantName(tenantId)} follows the global version again.";
    });

    private string TenantName(Guid id) => _tenants.FirstOrDefault(t => t.Id == id)?.Name ?? id.ToString();

    private async Task RunAsync(Func<Task<string>> action, bool toForm = false)
    {
        _busy = true;
        _error = null;
        _formError = null;
        _message = null;
        try
        {
            _message = await action();
        }
        catch (PromptException ex)
        {
            if (toForm)
            {
                _formError = ex.Message;
            }
            else
            {
                _error = ex.Message;
            }
        }
        catch (UnauthorizedAccessException ex)
        {
            _error = ex.Message;
        }
        finally
        {
            _busy = false;
        }
    }

    public void Dispose()
    {
        _cts.Cancel();
        _cts.Dispose();
    }
}
