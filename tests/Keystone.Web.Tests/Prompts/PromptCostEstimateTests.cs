using Keystone.Gateway;
using Keystone.Gateway.Pricing;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The cost estimate against figures computed by hand: one token per word, 3 tokens of framing per message plus 3.</summary>
public sealed class PromptCostEstimateTests
{
    // $2 / M input, $8 / M output, $0.50 / M cached input.
    private static readonly PriceRow Price = new("openai", "m", DateTime.MinValue, 2_000_000, 8_000_000, 500_000, null, null, 0, "test");
    private static readonly Dictionary<string, string> Samples = new() { ["q"] = "x y" };

    private static int Words(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    private static int Prompt(ChatRequest r) => r.Messages.Sum(m => Words(m.Content ?? "")) + 3 * r.Messages.Count + 3;

    private static PromptCostEstimate Estimate(PromptDraft draft, PromptCaching caching, PriceRow? price = null)
        => PromptCostEstimate.Compute(draft, Samples, Prompt, Words, "openai", "m", price ?? Price, caching, defaultMaxTokens: 1024);

    [Fact]
    public void Compute_StaticFirstDraft_SplitsTokensAndPricesEachPart()
    {
        var estimate = Estimate(new PromptDraft("a b c d", "{{q}} e f", "smart", 100), new PromptCaching(PromptCacheMechanism.AutomaticPrefix, 3));

        // 17 prompt tokens: 8 of text + 9 of framing; static = 6 fixed words + 9 framing, variable = "x y".
        Assert.Equal(15, estimate.StaticTokens);
        Assert.Equal(2, estimate.VariableTokens);
        Assert.Equal(4, estimate.PrefixTokens);
        Assert.Equal(30, estimate.StaticMicros);
        Assert.Equal(4, estimate.VariableMicros);
        Assert.Equal(800, estimate.OutputMicros);
        Assert.Equal(834, estimate.TotalMicros);
        // 13 uncached × $2/M + 4 cached × $0.50/M = 26 + 2 micro-USD.
        Assert.Equal(28, estimate.CachedInputMicros);
    }

    [Fact]
    public void Compute_PrefixBelowTheMinimum_PaysListPriceAndSaysWhy()
    {
        var estimate = Estimate(new PromptDraft("a b c d", "{{q}} e f", "smart", 100), new PromptCaching(PromptCacheMechanism.AutomaticPrefix, 10));

        Assert.Null(estimate.CachedInputMicros);
        Assert.Contains("caches from 10", estimate.CachingNote, StringComparison.Ordinal);
    }

    [Fact]
    public void Compute_NoMaxTokens_PricesOutputAtTheGatewayDefault()
    {
        var estimate = Estimate(new PromptDraft(null, "{{q}}", "smart", null), PromptCaching.None);

        Assert.Equal(1024, estimate.MaxOutputTokens);
        Assert.Equal(8192, estimate.OutputMicros);
        Assert.Null(estimate.CachedInputMicros);
    }

    [Fact]
    public void Compute_ModelWithoutPrice_IsAProblemNeverZero()
    {
        var estimate = PromptCostEstimate.Compute(new PromptDraft(null, "{{q}}", "smart", 10), Samples, Prompt, Words, "openai", "m", null,
            PromptCaching.None, 1024);

        Assert.NotNull(estimate.Problem);
        Assert.Contains("no price", estimate.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Compute_ProviderWithoutCachedRate_OffersNoDiscount()
    {
        var noCachedRate = Price with { CachedInputMicrosPerMillion = null };

        var estimate = Estimate(new PromptDraft("a b c d", "{{q}}", "smart", 10), new PromptCaching(PromptCacheMechanism.AutomaticPrefix, 1), noCachedRate);

        Assert.Null(estimate.CachedInputMicros);
    }

    [Theory]
    [InlineData("a b c d", "{{q}} e f", PromptCacheMechanism.AutomaticPrefix, 4)]
    [InlineData("a b c d", "e f {{q}}", PromptCacheMechanism.AutomaticPrefix, 6)]
    [InlineData("a {{q}} c d", "e f", PromptCacheMechanism.AutomaticPrefix, 1)]
    [InlineData("a b c d", "e f {{q}}", PromptCacheMechanism.SystemBreakpoint, 4)]
    [InlineData("a {{q}} c d", "e f", PromptCacheMechanism.SystemBreakpoint, 0)]
    public void CacheablePrefixTokens_ByMechanism_IsTheFixedTextBeforeTheFirstVariable(string system, string user, PromptCacheMechanism mechanism, int expected)
    {
        Assert.Equal(expected, PromptCostEstimate.CacheablePrefixTokens(new PromptDraft(system, user, "smart", null), mechanism, Words));
    }
}
