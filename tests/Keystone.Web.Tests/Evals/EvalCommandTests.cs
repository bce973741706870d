using Keystone.Web.Features.Evals;
using Keystone.Web.Hosting;
using Keystone.Web.Tests.Scaled;
using Microsoft.Extensions.Configuration;

namespace Keystone.Web.Tests.Evals;

/// <summary>The <c>eval</c> command: its arguments, and the built app run as the README does.</summary>
public sealed class EvalCommandTests
{
    [Fact]
    public void Parse_PromptVersionAliasAndMinScore_AreRead_AndConfigurationSwitchesAreLeftToConfiguration()
    {
        string[] args = ["eval", "support-reply", "--version", "3", "--Database:SqlitePath=/x/k.db", "--alias", "fast", "--min-score", "82.5"];

        var (parsed, error) = EvalCommand.Parse(args);
        var configuration = new ConfigurationBuilder().AddCommandLine(CommandLine.ConfigurationArguments(args)).Build();

        Assert.Null(error);
        Assert.Equal(new EvalCommandArgs("support-reply", 3, "fast", 82.5), parsed);
        Assert.Equal(["--Database:SqlitePath=/x/k.db"], CommandLine.ConfigurationArguments(args));
        Assert.Equal("/x/k.db", configuration["Database:SqlitePath"]);
    }

    [Theory]
    [InlineData("eval")]
    [InlineData("eval", "--version", "2")]
    [InlineData("eval", "p", "--version", "zero")]
    [InlineData("eval", "p", "--min-score", "101")]
    [InlineData("eval", "p", "--min-score")]
    [InlineData("eval", "p", "--alias")]
    [InlineData("eval", "p", "--bogus")]
    public void Parse_BadArguments_AreRefusedWithTheReason(params string[] args)
    {
        var (parsed, error) = EvalCommand.Parse(args);

        Assert.Null(parsed);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public async Task Run_DemoPrompt_PrintsTheTable_ExitsZeroAtOrAboveTheMinScoreAndNonZeroBelowIt()
    {
        var directory = Path.Combine(Path.GetTempPath(), "keystone-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var environment = new Dictionary<string, string>
        {
            ["Database__SqlitePath"] = Path.Combine(directory, "keystone.db"),
            ["Seed__DemoHistoryDays"] = "0",
        };
        try
        {
            var (passCode, passOutput) = await ScaledInstances.RunAppAsync(environment, "eval", "support-reply", "--alias", "fast", "--min-score", "0");
            // The demo set's judge example cannot pass on the simulated provider (it answers prose, not a verdict): below 100.
            var (failCode, failOutput) = await ScaledInstances.RunAppAsync(environment, "eval", "support-reply", "--min-score", "100");
            var (usageCode, usageOutput) = await ScaledInstances.RunAppAsync(environment, "eval", "no-such-prompt");

            Assert.True(passCode == 0, passOutput);
            Assert.Contains("Running 3 example(s) of support-reply", passOutput, StringComparison.Ordinal);
            Assert.Contains("pass rate", passOutput, StringComparison.Ordinal);
            Assert.Contains("PASS: score at or above 0", passOutput, StringComparison.Ordinal);
            Assert.True(failCode == 1, failOutput);
            Assert.Contains("FAIL: score", failOutput, StringComparison.Ordinal);
            Assert.True(usageCode == 2, usageOutput);
            Assert.Contains("no global eval set", usageOutput, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
