using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Web.Components.Shared;
using Keystone.Web.Features.Margin;
using Keystone.Web.Features.Usage;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Home;

/// <summary>
/// The console's first page: each role's own numbers and next actions (issue 21) — the founder's month and thinnest
/// customer, support's failed calls, the tenant admin's spend against caps, refusals and keys, a member's own usage,
/// the prompt editor's drafts and activations. Every number comes from <see cref="HomeQueries"/>, read again on the
/// usage pages' interval while the page is open (spend, refusals and failures move without a reload).
/// </summary>
public sealed partial class HomePage : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private FounderHome? _founder;
    private SupportHome? _support;
    private EditorHome? _editor;
    private AdminHome? _admin;
    private MemberHome? _member;
    private bool _loaded;
    private bool _failed;
    private DateTime? _loadedAt;
    private readonly LiveRefresh _refresh = new();

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private HomeQueries Queries { get; set; } = default!;

    [Inject] private ILogger<HomePage> Log { get; set; } = default!;

    [Inject] private TimeProvider Clock { get; set; } = default!;

    [Inject] private IOptions<UsageOptions> Options { get; set; } = default!;

    /// <summary>The viewer's role (the first that applies), in the <c>data-test</c> the sign-in tests read.</summary>
    private string HomeKind => Roles.All.FirstOrDefault(Tenant.User.IsInRole) ?? "user";

    private string Name => Tenant.User.FindFirst(KeystoneClaims.DisplayName)?.Value ?? "";

    private string Greeting => $"Welcome, {Name.Split(' ')[0]}";

    private string Subtitle => HomeKind switch
    {
        Roles.PlatformAdmin => "The business at a glance: what your customers pay, what their calls cost you, and who is thin.",
        Roles.Support => "Failed calls first: open one, read it, replay it on another model.",
        Roles.PromptEditor => "Your prompts: drafts waiting for activation and what went live lately.",
        Roles.TenantAdmin => $"{Tenant.TenantName}: spend against your caps, refused calls and your API keys.",
        _ => $"Your work in {Tenant.TenantName}.",
    };

    protected override async Task OnInitializedAsync()
    {
        try
        {
            await LoadAsync(_cts.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The home page is a summary: a failed read says so in words and leaves the menu's pages working.
            Log.LogError(ex, "The home page's numbers could not be read for role {Role}", HomeKind);
            _failed = true;
        }

        _loaded = true;
    }

    protected override void OnAfterRender(bool firstRender)
    {
        // Interactive only (after-render never runs while prerendering): the numbers refresh without a reload.
        if (firstRender && !_failed)
        {
            var ct = _cts.Token;
            _refresh.Start(TimeSpan.FromSeconds(Options.Value.UsageRefreshSeconds), Clock, () => InvokeAsync(async () =>
            {
                try
                {
                    await LoadAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A refresh that fails keeps the numbers on screen (their time says how old they are); the next tick tries again.
                    Log.LogWarning(ex, "The home page's numbers could not be refreshed for role {Role}", HomeKind);
                }

                StateHasChanged();
            }), ct);
        }
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        switch (HomeKind)
        {
            case Roles.PlatformAdmin:
                _founder = await Queries.FounderAsync(ct);
                break;
            case Roles.Support:
                _support = await Queries.SupportAsync(ct);
                break;
            case Roles.PromptEditor:
                _editor = await Queries.EditorAsync(ct);
                break;
            case Roles.TenantAdmin:
                _admin = await Queries.AdminAsync(ct);
                break;
            default:
                _member = await Queries.MemberAsync(ct);
                break;
        }

        _loadedAt = Clock.GetUtcNow().UtcDateTime;
    }

    /// <summary>The thinnest customer's drill-down over this month, the range kept in the address.</summary>
    private static string ThinnestHref(MarginRow thin, FounderHome f)
        => $"/margin/{thin.TenantId}?from={f.FromUtc:yyyy-MM-dd}&to={f.FromUtc.AddMonths(1).AddDays(-1):yyyy-MM-dd}";

    private static string CapName(BudgetCapStatus c, IReadOnlyDictionary<string, string> memberNames)
    {
        var period = c.Period == BudgetPeriod.Day ? "day" : "month";
        return c.Scope switch
        {
            BudgetScope.Tenant => $"Whole tenant, per {period}",
            BudgetScope.Feature => $"Feature {c.Key}, per {period}",
            BudgetScope.User => $"{(c.Key is { } id && memberNames.TryGetValue(id, out var name) ? name : "A removed member")}, per {period}",
            BudgetScope.ApiKey => $"{(c.Key is { } id && memberNames.TryGetValue(id, out var name) ? name : "A removed API key")}, per {period}",
            _ => $"{c.Scope} {c.Key}, per {period}",
        };
    }

    public void Dispose()
    {
        _cts.Cancel();
        _refresh.Dispose();
        _cts.Dispose();
    }
}
