using Keystone.Web.Components.Shared;

namespace Keystone.Web.Tests.Dashboards;

public sealed class MoneyTests
{
    [Theory]
    [InlineData(0, "$0.00")]
    [InlineData(1_234_560_000, "$1,234.56")]
    [InlineData(1_000_000, "$1.00")]
    [InlineData(420_000, "$0.42")]
    [InlineData(4_200, "$0.0042")]
    [InlineData(12, "$0.000012")]
    [InlineData(-3_100_000, "-$3.10")]
    public void Format_Micros_ReadsAsDollars(long micros, string expected) => Assert.Equal(expected, Money.Format(micros));

    [Theory]
    [InlineData("99", 99_000_000)]
    [InlineData("99.5", 99_500_000)]
    [InlineData(" -12.25 ", -12_250_000)]
    [InlineData("0.000001", 1)]
    public void TryParseDollars_PlainAmount_GivesMicros(string text, long expected)
    {
        Assert.True(Money.TryParseDollars(text, out var micros));
        Assert.Equal(expected, micros);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("1,000.00")]
    [InlineData("0.0000001")]
    [InlineData("$5")]
    public void TryParseDollars_NotAPlainAmount_IsRefused(string text) => Assert.False(Money.TryParseDollars(text, out _));
}
