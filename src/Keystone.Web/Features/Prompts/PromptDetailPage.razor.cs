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
    private VersionForm? _form;
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

            if (_canEdit)
            {
                _tenants = await Catalog.TenantsAsync(_cts.Token);
            }
        }

        Select(Version ?? _detail?.ActiveGlobalVersion ?? (_detail is { Versions.Count: > 0 } dd ? dd.Versions[0].Number : null));
    }

    private async Task ReloadAsync() => _detail = await Catalog.GetAsync(Name, _cts.Token);

    private void Select(int? number) => _selected = _detail?.Versions.FirstOrDefault(v => v.Number == number) ?? (_detail is { Versions.Count: > 0 } d ? d.Versions[0] : null);

    private static List<string> Variables(PromptVersion v)
        => PromptTemplate.Variables(v.SystemTemplate).Concat(PromptTemplate.Variables(v.UserTemplate)).Distinct(StringComparer.Ordinal).ToList();

    private void StartNewVersion(PromptVersion from)
    {
        _formError = null;
        _form = new VersionForm
        {
            FromNumber = from.Number,
            SystemTemplate = from.SystemTemplate,
            UserTemplate = from.UserTemplate,
            ModelAlias = from.ModelAlias,
            Temperature = from.Temperature,
            MaxTokens = from.MaxTokens,
        };
    }

    private async Task SaveVersionAsync()
    {
        if (_form is not { } f)
        {
            return;
        }

        await RunAsync(async () =>
        {
            var created = await Catalog.CreateVersionAsync(Name, new NewPromptVersion(f.SystemTemplate, f.UserTemplate, f.ModelAlias, f.Temperature, f.MaxTokens, f.Note), _cts.Token);
            _form = null;
            await ReloadAsync();
            Select(created.Number);
            return $"Version {created.Number} saved. It is not active until you activate it.";
        }, toForm: true);
    }

    private Task ActivateAsync(Guid? tenantId) => RunAsync(async () =>
    {
        var number = _selected!.Number;
        await Catalog.ActivateAsync(Name, number, tenantId, _cts.Token);
        await ReloadAsync();
        return tenantId is null ? $"Version {number} is now active globally." : $"Version {number} is now active for {TenantName(tenantId.Value)}.";
    });

    private Task RollbackAsync(Guid? tenantId) => RunAsync(async () =>
    {
        var number = await Catalog.RollbackAsync(Name, tenantId, _cts.Token);
        await ReloadAsync();
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

    private sealed class VersionForm
    {
        public int FromNumber { get; init; }
        public string? SystemTemplate { get; set; }
        public string? UserTemplate { get; set; }
        public string? ModelAlias { get; set; }
        public double? Temperature { get; set; }
        public int? MaxTokens { get; set; }
        public string? Note { get; set; }
    }
}
