using System.Globalization;
using System.Text;
using Keystone.Gateway;

namespace Keystone.Web.Features.Prompts;

/// <summary>A static-first layout of a draft the advisor can apply in one click.</summary>
/// <param name="System">The reordered system template.</param>
/// <param name="User">The reordered user template.</param>
/// <param name="Moved">How many paragraphs holding variables were moved after the fixed text.</param>
internal sealed record StaticFirstLayout(string System, string User, int Moved);

/// <summary>What the cache advisor says about a draft.</summary>
/// <param name="Warnings">Plain-words warnings (ordering, prefix below the provider's minimum).</param>
/// <param name="PrefixTokens">The cacheable prefix as the draft is laid out.</param>
/// <param name="StaticFirstPrefixTokens">The cacheable prefix if every fixed paragraph came first.</param>
/// <param name="MinimumTokens">The provider's minimum cacheable length (0: it caches nothing).</param>
/// <param name="Traffic">The prompt's provider calls over the last 30 days.</param>
/// <param name="MonthlySavingMicros">What a cacheable static-first prefix would have saved over those 30 days (0 when it could not be cached).</param>
/// <param name="Reorder">The static-first layout, when moving paragraphs is safe and changes something.</param>
internal sealed record CacheAdvice(IReadOnlyList<string> Warnings, int PrefixTokens, int StaticFirstPrefixTokens, int MinimumTokens, PromptTraffic Traffic,
    long MonthlySavingMicros, StaticFirstLayout? Reorder);

/// <summary>
/// The cache advisor's rules. A provider reuses a prompt prefix only from its first differing token, so fixed text
/// (instructions, examples) must come before anything that changes per call; and it caches only from a minimum length.
/// The saving estimate is hand-checkable: over the last 30 days' provider calls of the prompt, every call's prefix
/// tokens not already read from the cache, times (input rate − cached-input rate).
/// </summary>
internal static class PromptCacheAdvisor
{
    /// <summary>The traffic window the saving is estimated from (days); a month is counted as this window.</summary>
    public const int WindowDays = 30;

    public static CacheAdvice Advise(PromptDraft draft, PromptCostEstimate estimate, PromptTraffic traffic, Func<string, int> countText)
    {
        var warnings = new List<string>();
        var caching = estimate.Caching;
        var reorder = StaticFirst(draft, caching.Mechanism);
        var staticFirst = reorder is null ? estimate.PrefixTokens
            : PromptCostEstimate.CacheablePrefixTokens(draft with { System = reorder.System, User = reorder.User }, caching.Mechanism, countText);

        if (PromptLint.FirstVariableBeforeStatic(draft.System, draft.User, countText) is { StaticTokensAfter: > 0 } placement
            && (caching.Mechanism != PromptCacheMechanism.SystemBreakpoint || placement.Template == "system"))
        {
            warnings.Add($"{{{{{placement.Variable}}}}} in the {placement.Template} template comes before {placement.StaticTokensAfter.ToString("N0", CultureInfo.InvariantCulture)} tokens of fixed text, "
                + "which then differ per call and are never read from the provider's cache.");
        }

        if (caching.Mechanism == PromptCacheMechanism.None)
        {
            warnings.Add($"{estimate.Provider}/{estimate.Model} has no prompt cache the gateway uses: ordering does not change the price.");
        }
        else if (estimate.PrefixTokens < caching.MinimumTokens)
        {
            warnings.Add($"The cacheable prefix is {estimate.PrefixTokens.ToString("N0", CultureInfo.InvariantCulture)} tokens, below the {caching.MinimumTokens.ToString("N0", CultureInfo.InvariantCulture)} "
                + $"{estimate.Provider}/{estimate.Model} caches from" + (staticFirst >= caching.MinimumTokens ? "; static-first it would be "
                + staticFirst.ToString("N0", CultureInfo.InvariantCulture) + "." : "."));
        }

        var saving = 0L;
        if (estimate.Price is { CachedInputMicrosPerMillion: { } cachedRate } price && caching.Mechanism != PromptCacheMechanism.None
            && staticFirst >= caching.MinimumTokens && traffic.Calls > 0)
        {
            var cacheable = Math.Max(0, (long)traffic.Calls * staticFirst - traffic.CachedInputTokens);
            saving = (long)(((Int128)cacheable * (price.InputMicrosPerMillion - cachedRate) + 500_000) / 1_000_000);
        }

        return new CacheAdvice(warnings, estimate.PrefixTokens, staticFirst, caching.MinimumTokens, traffic, Math.Max(0, saving), reorder);
    }

    /// <summary>
    /// The draft with its fixed paragraphs first: paragraphs (blocks separated by a blank line) of the system template
    /// that hold a variable move after its fixed ones — with a system breakpoint (Anthropic) to the start of the user
    /// template, since only a system prompt without variables is cached there. Null when nothing would move, or when it
    /// is not safe: the system template holds a fenced code block, whose blank lines are not paragraph breaks. The
    /// layout is applied to the editor's draft only: the author sees the preview and the diff before saving it.
    /// </summary>
    public static StaticFirstLayout? StaticFirst(PromptDraft draft, PromptCacheMechanism mechanism)
    {
        var system = draft.System ?? "";
        if (system.Contains("```", StringComparison.Ordinal) || system.Contains("~~~", StringComparison.Ordinal))
        {
            // Paragraphs inside a fence are not paragraphs: moving one would break the example.
            return null;
        }

        var paragraphs = system.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n").Select(p => p.Trim('\n')).Where(p => p.Length > 0).ToList();
        static bool HasVariable(string paragraph) => PromptTemplate.Variables(paragraph).Count > 0;
        var withVariables = paragraphs.Where(HasVariable).ToList();
        var fixedOnes = paragraphs.Where(p => !HasVariable(p)).ToList();
        if (withVariables.Count == 0 || fixedOnes.Count == 0)
        {
            return null;
        }

        if (mechanism == PromptCacheMechanism.SystemBreakpoint)
        {
            var user = new StringBuilder(string.Join("\n\n", withVariables));
            if (!string.IsNullOrWhiteSpace(draft.User))
            {
                user.Append("\n\n").Append(draft.User);
            }

            return new StaticFirstLayout(string.Join("\n\n", fixedOnes), user.ToString(), withVariables.Count);
        }

        if (paragraphs.FindLastIndex(p => !HasVariable(p)) < paragraphs.FindIndex(HasVariable))
        {
            // Already static-first: every fixed paragraph comes before the first variable.
            return null;
        }

        return new StaticFirstLayout(string.Join("\n\n", fixedOnes.Concat(withVariables)), draft.User ?? "", withVariables.Count);
    }
}
