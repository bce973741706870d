using Bunit;
using Keystone.Web.Components.Shared;

namespace Keystone.Web.Tests.Shared;

public sealed class MoneyTextTests : KeystoneComponentTest
{
    [Theory]
    [InlineData(0, "$0.00")]
    [InlineData(1, "$0.000001")]
    [InlineData(123, "$0.000123")]
    [InlineData(12_300, "$0.0123")]
    [InlineData(500_000, "$0.50")]
    [InlineData(999_999, "$0.999999")]
    [InlineData(1_000_000, "$1.00")]
    [InlineData(12_340_000, "$12.34")]
    [InlineData(12_345_678, "$12.35")]
    [InlineData(1_999_999, "$2.00")]
    [InlineData(1_234_567_890_000, "$1,234,567.89")]
    [InlineData(-2_500_000, "-$2.50")]
    public void Format_Micros_ShowsDollars(long micros, string expected)
    {
        Assert.Equal(expected, MoneyText.Format(micros));
    }

    [Fact]
    public void Render_Estimated_PrefixesApproximately()
    {
        var money = Render<MoneyText>(p => p.Add(c => c.Micros, 123).Add(c => c.Estimated, true));

        Assert.Equal("≈ $0.000123", money.Find("[data-test=money]").TextContent);
    }
}
