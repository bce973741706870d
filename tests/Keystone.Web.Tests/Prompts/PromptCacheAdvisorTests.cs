using Keystone.Gateway;
using Keystone.Gateway.Pricing;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The cache advisor's rules and saving estimate against hand-computed figures (one token per word).</summary>
public sealed class PromptCacheAdvisorTests
{
    // $2 / M input, $0.50 / M cached input: every cached token saves 1.5 micro-USD.
    private static readonly PriceRow Price = new("openai", "m", DateTime.MinValue, 2_000_000, 8_000_000, 500_000, null, null, 0, "test");
    private static readonly Dictionary<string, string> Samples = new() { ["company"] = "Acme", ["q"] = "why" };
    private static readonly string TenRules = "one two three four five six seven eight nine ten";

    private static int Words(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    private static CacheAdvice Advise(PromptDraft draft, int minimum, PromptTraffic traffic, PromptCacheMechanism mechanism = PromptCacheMechanism.AutomaticPrefix)
    {
        var estimate = PromptCostEstimate.Compute(draft, Samples, r => r.Messages.Sum(m => Words(m.Content ?? "")), Words, "openai", "m", Price,
            new PromptCaching(mechanism, minimum), 100);
        return PromptCacheAdvisor.Advise(draft, estimate, traffic, Words);
    }

    [Fact]
    public void Advise_VariableFirst_WarnsAndEstimatesTheStaticFirstSaving()
    {
        var draft = new PromptDraft("Hi {{company}}.\n\n" + TenRules, "{{q}}", "smart", 50);

        var advice = Advise(draft, minimum: 5, new PromptTraffic(100, 0, 0, 200, 30));

        Assert.Equal(1, advice.PrefixTokens);
        // Static-first: the ten rules then "Hi" before {{company}}; variable-first, "." and the ten rules follow it.
        Assert.Equal(11, advice.StaticFirstPrefixTokens);
        // (100 calls × 11 tokens − 200 already cached) × (2.0 − 0.5) micro-USD per token.
        Assert.Equal(1_350, advice.MonthlySavingMicros);
        Assert.Equal(TenRules + "\n\nHi {{company}}.", advice.Reorder!.System);
        Assert.Equal(2, advice.Warnings.Count);
        Assert.Contains("{{company}} in the system template comes before 11 tokens", advice.Warnings[0], StringComparison.Ordinal);
        Assert.Contains("below the 5", advice.Warnings[1], StringComparison.Ordinal);
        Assert.Contains("static-first it would be 11", advice.Warnings[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Advise_StaticFirstPrefixStillBelowTheMinimum_SavesNothing()
    {
        var draft = new PromptDraft("Hi {{company}}.\n\n" + TenRules, "{{q}}", "smart", 50);

        var advice = Advise(draft, minimum: 1024, new PromptTraffic(100, 0, 0, 0, 30));

        Assert.Equal(0, advice.MonthlySavingMicros);
        Assert.Contains(advice.Warnings, w => w.Contains("below the 1,024", StringComparison.Ordinal));
    }

    [Fact]
    public void Advise_AlreadyStaticFirstAndLongEnough_HasNoWarningAndNoReorder()
    {
        var draft = new PromptDraft(TenRules, "{{q}}", "smart", 50);

        var advice = Advise(draft, minimum: 5, new PromptTraffic(10, 0, 0, 0, 30));

        Assert.Empty(advice.Warnings);
        Assert.Null(advice.Reorder);
        Assert.Equal(10, advice.PrefixTokens);
        // 10 calls × 10 tokens × 1.5.
        Assert.Equal(150, advice.MonthlySavingMicros);
    }

    [Fact]
    public void Advise_NoTraffic_SavesNothing()
    {
        var advice = Advise(new PromptDraft(TenRules, "{{q}}", "smart", 50), minimum: 5, PromptTraffic.None(30));

        Assert.Equal(0, advice.MonthlySavingMicros);
    }

    [Fact]
    public void StaticFirst_SystemBreakpoint_MovesVariableParagraphsToTheUserTemplate()
    {
        var layout = PromptCacheAdvisor.StaticFirst(new PromptDraft(TenRules + "\n\nSign as {{company}}.", "{{q}}", "smart", null), PromptCacheMechanism.SystemBreakpoint);

        Assert.Equal(new StaticFirstLayout(TenRules, "Sign as {{company}}.\n\n{{q}}", 1), layout);
    }

    [Theory]
    [InlineData("Rules first.\n\nThen {{company}}.")]
    [InlineData("Hi {{company}}.\n\n```\nexample\n\nmore\n```")]
    [InlineData("Only {{company}}.")]
    public void StaticFirst_AlreadyOrderedFencedOrNothingFixed_IsNotOffered(string system)
    {
        Assert.Null(PromptCacheAdvisor.StaticFirst(new PromptDraft(system, "{{q}}", "smart", null), PromptCacheMechanism.AutomaticPrefix));
    }
}
