using Keystone.Gateway;
using Keystone.Web.Features.Playground;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Tests.Playground;

/// <summary>The playground's sentences for gateway errors (issue 21): budget refusals in the reader's time, the newer codes in plain words.</summary>
public sealed class PlainWordsTests
{
    private static readonly DateTime Now = new(2026, 12, 6, 14, 30, 0, DateTimeKind.Utc);

    private static GatewayError Refusal(int? fits) => new(GatewayErrorCodes.BudgetExceeded, "gateway text in UTC", 429, TimeSpan.FromHours(9.5))
    {
        Cap = new BudgetCapRefusal(BudgetScope.Tenant, null, BudgetPeriod.Day, 2000, 1100, 0, 1200, new DateTime(2026, 12, 7, 0, 0, 0, DateTimeKind.Utc), fits),
    };

    [Fact]
    public void BudgetExceeded_InTheReadersZone_MoneyAsMoneyTheLocalResetAndWhatToDo()
    {
        var paris = TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris");

        var text = PlainWords.For(Refusal(fits: 450), paris, Now);

        Assert.Equal("Not sent: the call's worst case ($0.0012: the prompt plus max tokens at the model's price) is more than the $0.0009 left of "
            + "the tenant day cap ($0.002; $0.0011 spent). Send it with max_tokens of about 450 or less, or ask a tenant admin to raise the cap. "
            + "The cap resets at 01:00 tomorrow (your time, Europe/Paris), in 9 h 30 min.", text);
    }

    [Fact]
    public void BudgetExceeded_WestOfUtc_TheResetIsTodayInLocalTime()
    {
        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

        var text = PlainWords.For(Refusal(fits: null), newYork, Now);

        Assert.Contains("No answer length fits what is left: wait for the reset, or ask a tenant admin to raise the cap.", text, StringComparison.Ordinal);
        Assert.Contains("resets at 19:00 today (your time, America/New_York)", text, StringComparison.Ordinal);
        Assert.DoesNotContain("micro-USD", text, StringComparison.Ordinal);
    }

    [Fact]
    public void BudgetExceeded_ZoneNotKnownYet_SaysUtc()
        => Assert.Contains("resets at 00:00 tomorrow (UTC)", PlainWords.For(Refusal(fits: 1), null, Now), StringComparison.Ordinal);

    [Theory]
    [InlineData(GatewayErrorCodes.ModelNotPriced, "This model has no price")]
    [InlineData(GatewayErrorCodes.BudgetUnavailable, "nothing was sent and nothing was charged")]
    [InlineData(GatewayErrorCodes.OutputLimitExceeded, "stopped at the max tokens it was allowed")]
    [InlineData(ApiErrors.DatabaseBusy, "Nothing was changed; try again in a few seconds.")]
    [InlineData(GatewayErrorCodes.Conflict, "Someone else changed this at the same moment")]
    public void NewerCodes_HavePlainWordsNotTheRawMessage(string code, string expected)
    {
        var text = PlainWords.For(new GatewayError(code, "raw-gateway-text", 400));

        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.NotEqual("raw-gateway-text", text);
    }
}
