using Keystone.Web.Hosting;
using Microsoft.Extensions.Configuration;

namespace Keystone.Web.Tests.Hosting;

/// <summary>The app's commands never swallow a configuration switch that follows them.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("--migrate", "--Database:SqlitePath=/x/k.db")]
    [InlineData("--migrate", "--Database:SqlitePath", "/x/k.db")]
    [InlineData("--export-prompts", "./out", "--Database:SqlitePath=/x/k.db")]
    [InlineData("--Database:SqlitePath=/x/k.db", "--migrate")]
    public void ConfigurationArguments_CommandBeforeOrAfterASwitch_TheSwitchIsRead(params string[] args)
    {
        var configuration = new ConfigurationBuilder().AddCommandLine(CommandLine.ConfigurationArguments(args)).Build();

        Assert.Equal("/x/k.db", configuration["Database:SqlitePath"]);
        Assert.Null(configuration["migrate"]);
        Assert.Null(configuration["export-prompts"]);
    }

    [Fact]
    public void ConfigurationArguments_ExportWithoutAFolder_LeavesTheNextSwitchToConfiguration()
    {
        var kept = CommandLine.ConfigurationArguments(["--export-prompts", "--Seed:Demo=false"]);

        Assert.Equal(["--Seed:Demo=false"], kept);
    }
}
