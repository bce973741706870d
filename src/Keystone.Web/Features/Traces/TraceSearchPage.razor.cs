using Keystone.Web.Platform;
using Keystone.Web.Components.Shared;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Routing;
using Microsoft.AspNetCore.Components.Web;
using MudBlazor;

namespace Keystone.Web.Features.Traces;

public sealed partial class TraceSearchPage
{
    private const int PageSize = 50;

    private readonly FilterForm _form = new();
    private readonly CancellationTokenSource _cts = new();
    private List<TraceRow> _rows = [];
    private IReadOnlyList<SavedSearchRow> _saved = [];
    private TraceFilter _filter = TraceFilter.Empty;
    private string? _next;
    private bool _loading;
    private string? _formError;
    private string? _saveName;

    [Inject] private TraceQueries Queries { get; set; } = default!;

    [Inject] private SavedTraceSearches Saved { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private NavigationManager Nav { get; set; } = default!;

    [Inject] private ISnackbar Snackbar { get; set; } = default!;

    [Inject] private Prompts.PromptCatalog Prompts { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        Nav.LocationChanged += OnLocationChanged;
        _filter = TraceFilter.Parse(new Uri(Nav.Uri).Query);
        _form.From(_filter);
        _saved = await Saved.ListAsync(_cts.Token);
        await SearchAsync(append: false);
    }

    private async Task SearchAsync(bool append)
    {
        _loading = true;
        try
        {
            var page = await Queries.SearchAsync(_filter, append ? _next : null, PageSize, _cts.Token);
            _rows = append ? [.. _rows, .. page.Rows] : [.. page.Rows];
            _next = page.NextCursor;
        }
        finally
        {
            _loading = false;
        }
    }

    private Task LoadMoreAsync() => SearchAsync(append: true);

    private async Task ApplyAsync()
    {
        // "support-reply@2" (or "2" / "v2" with the prompt field filled) names a version by number: look up its id.
        if (TracePromptVersion.TryParse(_form.PromptVersion, _form.PromptName) is { } named)
        {
            var id = await Prompts.VersionIdAsync(named.Prompt, named.Number, _cts.Token);
            if (id is null)
            {
                _formError = $"The prompt '{named.Prompt}' has no version {named.Number}.";
                return;
            }

            _form.PromptVersion = id.ToString();
        }

        var (filter, error) = _form.ToFilter();
        _formError = error;
        if (filter is null)
        {
            return;
        }

        _filter = filter;
        var query = _filter.ToQueryString();
        // The URL carries the filter, so the address bar is the link to paste into a ticket.
        Nav.NavigateTo(query.Length == 0 ? "/traces" : $"/traces?{query}", replace: false);
        await SearchAsync(append: false);
    }

    private async Task ClearAsync()
    {
        _form.From(TraceFilter.Empty);
        await ApplyAsync();
    }

    private async Task OnKeyDownAsync(KeyboardEventArgs e)
    {
        if (e.Key == "Enter")
        {
            await ApplyAsync();
        }
    }

    private async Task SaveSearchAsync()
    {
        var error = await Saved.SaveAsync(_saveName ?? "", _filter, _cts.Token);
        if (error is not null)
        {
            Snackbar.Add(error, Severity.Warning);
            return;
        }

        _saveName = null;
        _saved = await Saved.ListAsync(_cts.Token);
        Snackbar.Add("Search saved.", Severity.Success);
    }

    private async Task DeleteSavedAsync(Guid id)
    {
        await Saved.DeleteAsync(id, _cts.Token);
        _saved = await Saved.ListAsync(_cts.Token);
    }

    // Back / forward, or a saved search clicked: the URL is the source of truth.
    private void OnLocationChanged(object? sender, LocationChangedEventArgs e)
    {
        var uri = new Uri(e.Location);
        if (!uri.AbsolutePath.Equals("/traces", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var filter = TraceFilter.Parse(uri.Query);
        if (filter == _filter)
        {
            return;
        }

        _ = InvokeAsync(async () =>
        {
            _filter = filter;
            _form.From(filter);
            await SearchAsync(append: false);
            StateHasChanged();
        });
    }

    public void Dispose()
    {
        Nav.LocationChanged -= OnLocationChanged;
        _cts.Cancel();
        _cts.Dispose();
    }

    /// <summary>The form's editable view of a filter (dollars instead of micros, text ids).</summary>
    private sealed class FilterForm
    {
        public string? Text { get; set; }
        public string? User { get; set; }
        public string? Feature { get; set; }
        public string? Model { get; set; }
        public TraceStatusFilter? Status { get; set; }
        public string? PromptName { get; set; }
        public string? PromptVersion { get; set; }
        public decimal? MinCostUsd { get; set; }
        public decimal? MaxCostUsd { get; set; }
        public int? MinLatencyMs { get; set; }
        public int? MaxLatencyMs { get; set; }
        public DateRange? Range { get; set; }
        public string? TraceId { get; set; }
        public TraceSort Sort { get; set; }

        public void From(TraceFilter f)
        {
            Text = f.Text;
            User = f.User;
            Feature = f.Feature;
            Model = f.Model;
            Status = f.Status;
            PromptName = f.PromptName;
            PromptVersion = f.PromptVersionId?.ToString();
            MinCostUsd = f.MinCostMicros / 1_000_000m;
            MaxCostUsd = f.MaxCostMicros / 1_000_000m;
            MinLatencyMs = f.MinLatencyMs;
            MaxLatencyMs = f.MaxLatencyMs;
            Range = f.FromUtc is null && f.ToUtc is null ? null : new DateRange(f.FromUtc, f.ToUtc?.AddDays(-1));
            TraceId = f.TraceId?.ToString();
            Sort = f.Sort;
        }

        public (TraceFilter? Filter, string? Error) ToFilter()
        {
            Guid? version = null, trace = null;
            if (!string.IsNullOrWhiteSpace(PromptVersion))
            {
                if (!Guid.TryParse(PromptVersion, out var v))
                {
                    return (null, "The prompt version is not a version id, nor name@number (support-reply@2), nor a number with the prompt filled in.");
                }

                version = v;
            }

            if (!string.IsNullOrWhiteSpace(TraceId))
            {
                if (!Keystone.Gateway.CallIds.TryParseTraceId(TraceId, out var t))
                {
                    return (null, "The trace id is not a valid id (paste the X-Keystone-Trace-Id or the x-request-id value).");
                }

                trace = t;
            }

            if (MinCostUsd > MaxCostUsd || MinLatencyMs > MaxLatencyMs)
            {
                return (null, "A minimum is above its maximum.");
            }

            return (new TraceFilter
            {
                Text = Text,
                User = User,
                Feature = Feature,
                Model = Model,
                Status = Status,
                PromptName = PromptName,
                PromptVersionId = version,
                MinCostMicros = Money.MicrosFromDollars(MinCostUsd),
                MaxCostMicros = Money.MicrosFromDollars(MaxCostUsd),
                MinLatencyMs = MinLatencyMs,
                MaxLatencyMs = MaxLatencyMs,
                FromUtc = Range?.Start is { } s ? DateTime.SpecifyKind(s.Date, DateTimeKind.Utc) : null,
                ToUtc = Range?.End is { } e ? DateTime.SpecifyKind(e.Date.AddDays(1), DateTimeKind.Utc) : null,
                TraceId = trace,
                Sort = Sort,
            }, null);
        }
    }
}
