using Keystone.Web.Features.Traces;

namespace Keystone.Web.Tests.Traces;

public sealed class TracePromptVersionTests
{
    [Theory]
    [InlineData("support-reply@2", null, "support-reply", 2)]
    [InlineData("Support-Reply@v3", "other", "support-reply", 3)]
    [InlineData("2", "support-reply", "support-reply", 2)]
    [InlineData("v7", " support-reply ", "support-reply", 7)]
    public void TryParse_NamedVersion_ReturnsPromptAndNumber(string text, string? promptField, string prompt, int number)
    {
        Assert.Equal(new TracePromptVersion(prompt, number), TracePromptVersion.TryParse(text, promptField));
    }

    [Theory]
    [InlineData("", "support-reply")]
    [InlineData("2", null)]
    [InlineData("support-reply@0", null)]
    [InlineData("support reply@2", null)]
    [InlineData("0b7d0f6a-1f2e-4c35-9a6b-0000000000aa", "support-reply")]
    public void TryParse_NotANamedVersion_ReturnsNull(string text, string? promptField)
    {
        Assert.Null(TracePromptVersion.TryParse(text, promptField));
    }
}
