using Keystone.Gateway;
using Keystone.Gateway.Pricing;

namespace Keystone.Web.Features.Prompts;

/// <summary>A draft as the cost estimate and the test run see it.</summary>
/// <param name="System">System template.</param>
/// <param name="User">User template.</param>
/// <param name="Alias">Model alias (or <c>provider/model</c>).</param>
/// <param name="MaxTokens">The version's output limit (null: the gateway's default).</param>
internal sealed record PromptDraft(string? System, string? User, string Alias, int? MaxTokens);

/// <summary>
/// What one call of a draft costs, by part: the static part (the templates' fixed text and the message framing, the
/// same on every call), the variable part (the sample values), and the output up to the version's max tokens. List
/// price, and — where the model's provider caches prompts and the price table has a cached-input rate — the price of a
/// call whose cacheable prefix is read from the provider's cache.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (PromptCostPanel.Estimate): Razor components are public and Blazor parameters must be public properties.")]
public sealed record PromptCostEstimate
{
    public required string Alias { get; init; }

    /// <summary>The provider target the alias resolves to first (<c>sim</c>), null when the alias is unknown.</summary>
    public string? Provider { get; init; }

    public string? Model { get; init; }

    public int StaticTokens { get; init; }

    public int VariableTokens { get; init; }

    /// <summary>Tokens of the prefix a provider cache could reuse: fixed text before the first variable (Anthropic: the system prompt, if it has no variable).</summary>
    public int PrefixTokens { get; init; }

    public int MaxOutputTokens { get; init; }

    public long StaticMicros { get; init; }

    public long VariableMicros { get; init; }

    /// <summary>Output at <see cref="MaxOutputTokens"/> (the most a call can cost for output).</summary>
    public long OutputMicros { get; init; }

    /// <summary>Input at list price (static + variable).</summary>
    public long InputMicros => StaticMicros + VariableMicros;

    /// <summary>The most one call costs at list price.</summary>
    public long TotalMicros => InputMicros + OutputMicros;

    /// <summary>Input when the prefix is a cache hit; null when no caching applies (see <see cref="CachingNote"/>).</summary>
    public long? CachedInputMicros { get; init; }

    public PromptCaching Caching { get; init; } = PromptCaching.None;

    /// <summary>The price row used; null when the model has no price (the estimate is then unknown, never $0).</summary>
    public PriceRow? Price { get; init; }

    /// <summary>Why caching does not apply, or how it applies, in plain words.</summary>
    public string? CachingNote { get; init; }

    /// <summary>Set when nothing could be priced (unknown alias, model without a price).</summary>
    public string? Problem { get; init; }

    /// <summary>
    /// Prices <paramref name="draft"/> rendered with <paramref name="samples"/>. Pure: the tokenizer, the price row and the
    /// provider's caching are passed in, so the figures can be checked by hand.
    /// </summary>
    internal static PromptCostEstimate Compute(PromptDraft draft, IReadOnlyDictionary<string, string> samples, Func<ChatRequest, int> countPrompt,
        Func<string, int> countText, string? provider, string? model, PriceRow? price, PromptCaching caching, int defaultMaxTokens)
    {
        var system = PromptTemplate.RenderAvailable(draft.System, samples);
        var user = PromptTemplate.RenderAvailable(draft.User, samples);
        var messages = new List<ChatMessage>(2);
        if (!string.IsNullOrWhiteSpace(system))
        {
            messages.Add(new ChatMessage("system", system));
        }

        messages.Add(new ChatMessage("user", user));
        var total = countPrompt(new ChatRequest { Model = draft.Alias, Messages = messages });
        var framing = Math.Max(0, total - messages.Sum(m => countText(m.Content ?? "")));
        var fixedText = PromptTemplate.Parts(draft.System).Concat(PromptTemplate.Parts(draft.User)).Where(p => p.Variable is null).Sum(p => Count(countText, p.Text));
        var staticTokens = Math.Min(total, fixedText + framing);
        var prefix = CacheablePrefixTokens(draft, caching.Mechanism, countText);
        var maxOutput = draft.MaxTokens ?? defaultMaxTokens;
        var estimate = new PromptCostEstimate
        {
            Alias = draft.Alias,
            Provider = provider,
            Model = model,
            StaticTokens = staticTokens,
            VariableTokens = total - staticTokens,
            PrefixTokens = prefix,
            MaxOutputTokens = maxOutput,
            Caching = caching,
            Price = price,
        };
        if (provider is null)
        {
            return estimate with { Problem = $"The alias '{draft.Alias}' is not configured, so the call cannot be priced." };
        }

        if (price is null)
        {
            return estimate with { Problem = $"{provider}/{model} has no price in the price table: calls are recorded with an unknown cost." };
        }

        estimate = estimate with
        {
            StaticMicros = PriceBook.Calculate(price, new Keystone.Gateway.Usage(staticTokens, 0)).CostMicros,
            VariableMicros = PriceBook.Calculate(price, new Keystone.Gateway.Usage(total - staticTokens, 0)).CostMicros,
            OutputMicros = PriceBook.Calculate(price, new Keystone.Gateway.Usage(0, maxOutput)).CostMicros,
        };
        if (caching.Mechanism == PromptCacheMechanism.None || price.CachedInputMicrosPerMillion is null)
        {
            return estimate with { CachingNote = $"{provider}/{model} offers no prompt-cache discount." };
        }

        if (prefix < caching.MinimumTokens)
        {
            return estimate with
            {
                CachingNote = $"The cacheable prefix is {prefix:N0} tokens; {provider}/{model} caches from {caching.MinimumTokens:N0}, so every call pays list price.",
            };
        }

        return estimate with
        {
            CachedInputMicros = PriceBook.Calculate(price, new Keystone.Gateway.Usage(total, 0, CachedInputTokens: Math.Min(prefix, total))).CostMicros,
            CachingNote = caching.Mechanism == PromptCacheMechanism.SystemBreakpoint
                ? $"The {prefix:N0}-token system prefix is cached for 5 minutes after a call; the first call in that window pays the cache-write rate."
                : $"The first {prefix:N0} tokens repeat on every call and are read from the provider's cache while it is warm.",
        };
    }

    /// <summary>
    /// The prefix a provider cache could reuse: fixed text in send order up to the first variable; with a system
    /// breakpoint (Anthropic) only a system prompt without variables counts, since the breakpoint sits at its end.
    /// </summary>
    internal static int CacheablePrefixTokens(PromptDraft draft, PromptCacheMechanism mechanism, Func<string, int> countText)
    {
        var systemParts = PromptTemplate.Parts(draft.System);
        if (mechanism == PromptCacheMechanism.SystemBreakpoint)
        {
            return systemParts.Any(p => p.Variable is not null) ? 0 : Count(countText, draft.System ?? "");
        }

        // Counted per message: the two templates are separate messages, never one run of text.
        var tokens = 0;
        foreach (var parts in new[] { systemParts, PromptTemplate.Parts(draft.User) })
        {
            var fixedPrefix = string.Concat(parts.TakeWhile(p => p.Variable is null).Select(p => p.Text));
            tokens += Count(countText, fixedPrefix);
            if (parts.Any(p => p.Variable is not null))
            {
                break;
            }
        }

        return tokens;
    }

    private static int Count(Func<string, int> countText, string text) => string.IsNullOrEmpty(text) ? 0 : countText(text);
}
