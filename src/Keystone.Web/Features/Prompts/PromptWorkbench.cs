using Keystone.Gateway;
using System.Runtime.CompilerServices;
using Keystone.Data.Prompts;
using Keystone.Gateway.Pipeline;
using Keystone.Web.Platform;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Prompts;

/// <summary>Real calls of a prompt version over a window: how many, what they cost, what their input looked like.</summary>
/// <param name="Calls">Calls recorded in the window.</param>
/// <param name="CostMicros">Their cost.</param>
/// <param name="InputTokens">Their input tokens.</param>
/// <param name="CachedInputTokens">Of which read from a provider's prompt cache.</param>
/// <param name="Days">The window's length.</param>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (PromptCostPanel.Traffic): Razor components are public and Blazor parameters must be public properties.")]
public sealed record PromptTraffic(int Calls, long CostMicros, long InputTokens, long CachedInputTokens, int Days)
{
    public static PromptTraffic None(int days) => new(0, 0, 0, 0, days);
}

/// <summary>
/// The prompt workbench's gateway side: token counts with the gateway's tokenizer, prices from its price table,
/// the provider's prompt caching (<see cref="IPromptCachePolicy"/>), and the real traffic of a prompt. Uses the gateway
/// only through its public abstractions.
/// </summary>
internal sealed class PromptWorkbench(
    ILlmGateway gateway,
    IGatewayPricing pricing,
    IPromptTokenCounter tokens,
    IPromptCachePolicy caching,
    IOptionsMonitor<GatewayOptions> gatewayOptions,
    PromptTrafficQueries traffic,
    TenantContext tenant,
    AuditLog audit,
    PromptImportStatus files,
    TimeProvider clock)
{
    /// <summary>Tokens of <paramref name="text"/> (the gateway's o200k_base tokenizer).</summary>
    public int CountTokens(string text) => string.IsNullOrEmpty(text) ? 0 : tokens.CountText(text);

    /// <summary>The chat aliases and models <paramref name="tenantId"/> may call (for the alias pickers).</summary>
    public async Task<IReadOnlyList<string>> AliasesAsync(Guid tenantId, CancellationToken ct)
        => (await gateway.ModelsAsync(tenantId, ct)).Where(m => !m.IsEmbedding).Select(m => m.Id).ToList();

    /// <summary>Prices one call of <paramref name="draft"/> with <paramref name="samples"/>, resolving its alias as <paramref name="tenantId"/>'s calls would.</summary>
    public async Task<PromptCostEstimate> EstimateAsync(PromptDraft draft, IReadOnlyDictionary<string, string> samples, Guid tenantId, CancellationToken ct)
    {
        var (provider, model) = await TargetOfAsync(draft.Alias, tenantId, ct);
        var price = provider is null ? null : await pricing.FindAsync(provider, model!, clock.GetUtcNow().UtcDateTime, ct);
        var policy = provider is null ? PromptCaching.None : caching.Describe(provider, model!);
        return PromptCostEstimate.Compute(draft, samples, tokens.CountPrompt, CountTokens, provider, model, price?.Row, policy,
            gatewayOptions.CurrentValue.DefaultMaxTokens);
    }

    /// <summary>Real calls of one version over the last <paramref name="days"/> days, across every tenant (aggregates only).</summary>
    public Task<PromptTraffic> VersionTrafficAsync(Guid versionId, int days, CancellationToken ct) => traffic.VersionAsync(versionId, days, ct);

    /// <summary>The cache advisor's verdict on <paramref name="draft"/>, with the saving estimated from the prompt's last 30 days of provider calls.</summary>
    public async Task<CacheAdvice> AdviseAsync(string promptName, PromptDraft draft, PromptCostEstimate estimate, CancellationToken ct)
    {
        var recent = await traffic.ProviderCallsAsync(promptName, PromptCacheAdvisor.WindowDays, ct);
        return PromptCacheAdvisor.Advise(draft, estimate, recent, CountTokens);
    }

    /// <summary>The last file import's conflicts and errors that concern <paramref name="promptName"/>.</summary>
    public IReadOnlyList<string> FileIssuesOf(string promptName)
    {
        var prefix = PromptCatalog.Slug(promptName) + "/";
        var last = files.Last;
        return last.Conflicts.Concat(last.Errors).Where(line => line.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    /// <summary>The feature label test runs are recorded under (a feature cap on it bounds what editors spend).</summary>
    public const string TestFeature = "prompt.test";

    /// <summary>
    /// Streams a test run of <paramref name="version"/> (a saved version, or a draft with an empty id) rendered with
    /// <paramref name="samples"/>, through the gateway like any call: in <paramref name="tenantId"/>'s context (its aliases,
    /// rate limits and budget caps, which it reserves against), on the platform's provider keys unless the tenant brought
    /// its own, recorded under feature <see cref="TestFeature"/> with the editor as user, and never answered from a cache.
    /// Throws <see cref="PromptException"/> when a variable has no sample, <see cref="GatewayException"/> when the gateway
    /// refuses (budget, rate limit, unknown alias) before the first token.
    /// </summary>
    public async IAsyncEnumerable<ChatStreamEvent> TestRunAsync(string promptName, PromptVersion version, string? alias,
        IReadOnlyDictionary<string, string> samples, Guid tenantId, [EnumeratorCancellation] CancellationToken ct)
    {
        var request = PromptRenderer.Render(version, samples) with
        {
            Model = string.IsNullOrWhiteSpace(alias) ? version.ModelAlias : alias.Trim(),
            // A test must reach the model: a cached answer would compare a version with an old answer.
            Cache = false,
        };
        var context = new CallContext
        {
            TenantId = tenantId,
            UserId = tenant.UserId,
            Feature = TestFeature,
            PromptName = PromptCatalog.Slug(promptName),
            PromptVersionId = version.Id == Guid.Empty ? null : version.Id,
        };
        await audit.WriteAsync("prompt.test_run", $"prompt:{PromptCatalog.Slug(promptName)}", tenantId,
            new { version = version.Id == Guid.Empty ? "draft" : version.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), model = request.Model }, ct);
        await foreach (var e in gateway.StreamAsync(request, context, ct).WithCancellation(ct))
        {
            yield return e;
        }
    }

    /// <summary>The first provider target of <paramref name="alias"/> for the tenant, or (null, null) when it is not one the tenant may use.</summary>
    private async Task<(string? Provider, string? Model)> TargetOfAsync(string alias, Guid tenantId, CancellationToken ct)
    {
        var models = await gateway.ModelsAsync(tenantId, ct);
        var match = models.FirstOrDefault(m => string.Equals(m.Id, alias.Trim(), StringComparison.OrdinalIgnoreCase) && !m.IsEmbedding);
        var target = match switch
        {
            { Kind: "alias", Targets.Count: > 0 } => match.Targets[0],
            { Kind: "model" } => match.Id,
            _ => null,
        };
        if (target?.Split('/', 2) is [var provider, var model])
        {
            return (provider, model);
        }

        return (null, null);
    }
}
