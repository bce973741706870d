using Keystone.Web.Features.Api;

namespace Keystone.Web.Tests.Api;

/// <summary>The number formats of the overhead and rate-limit headers.</summary>
public sealed class ApiMillisecondsTests
{
    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(0.5, "0.5")]
    [InlineData(0.0434, "0.043")]
    [InlineData(0.0436, "0.044")]
    [InlineData(12.3456, "12.346")]
    [InlineData(250.0, "250")]
    [InlineData(0.0004, "0")]
    public void Milliseconds_AtMostThreeDecimals_AsTheCustomFormatWrites(double value, string expected)
    {
        Assert.Equal(expected, ApiHttp.Milliseconds(value));
        Assert.Equal(value.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture), ApiHttp.Milliseconds(value));
    }

    [Theory]
    [InlineData(0.2, "1s")]
    [InlineData(1.0, "1s")]
    [InlineData(17.4, "18s")]
    [InlineData(59.0, "59s")]
    [InlineData(60.0, "1m0s")]
    [InlineData(75.0, "1m15s")]
    public void ResetText_WholeSecondsRoundedUp_InOpenAisDurationForm(double seconds, string expected)
        => Assert.Equal(expected, ApiHttp.ResetText(TimeSpan.FromSeconds(seconds)));
}
