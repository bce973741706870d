using Keystone.Web.Features.Agents;
using Keystone.Web.Features.Agents.Tools;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Agents;

/// <summary>The checks before every tool call: allowlist, permission, schema, then the autonomy level within the platform's maximum.</summary>
public sealed class ToolGateTests
{
    private static readonly string All = AgentPermissions.Format(AgentPermissions.All);

    private static ToolRegistry Registry(Dictionary<string, int>? maxLevels = null) => new(
        [new GetUsageSummaryTool(), new CreateSupportTicketTool(), new SendEmailTool(), new IssueCreditTool()],
        Options.Create(new AgentsOptions { ToolMaxLevels = maxLevels ?? [] }));

    private const string Email = """{"to":"a@b.example","subject":"Hi","body":"Hello."}""";

    [Fact]
    public void Decide_UnknownTool_IsRefused()
    {
        var d = ToolGate.Decide(Registry(), "drop_database", "{}", ["drop_database"], All, null, false);

        Assert.Equal(ToolVerdict.Refuse, d.Verdict);
        Assert.Equal(ToolGate.UnknownTool, d.Code);
    }

    [Fact]
    public void Decide_ToolOutsideTheAllowlist_IsRefused()
    {
        var d = ToolGate.Decide(Registry(), "send_email", Email, ["get_usage_summary"], All, null, false);

        Assert.Equal(ToolVerdict.Refuse, d.Verdict);
        Assert.Equal(ToolGate.NotAllowed, d.Code);
    }

    [Fact]
    public void Decide_WithoutThePermission_IsRefusedNamingIt()
    {
        var member = AgentPermissions.Format(AgentPermissions.ForRoles(r => r == "TenantMember"));

        var d = ToolGate.Decide(Registry(), "issue_credit", """{"customer":"c1","amount_cents":500,"reason":"outage"}""", ["issue_credit"], member, null, false);

        Assert.Equal(ToolVerdict.Refuse, d.Verdict);
        Assert.Equal(ToolGate.PermissionDenied, d.Code);
        Assert.Contains(AgentPermissions.CreditsIssue, d.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"to":"not-an-address","subject":"Hi","body":"x"}""", "/to")]
    [InlineData("""{"to":"a@b.example","subject":"Hi"}""", "required")]
    [InlineData("""{"to":"a@b.example","subject":"Hi","body":"x","bcc":"c@d.example"}""", "bcc")]
    [InlineData("""not json""", "not valid JSON")]
    public void Decide_InputAgainstTheSchema_InvalidIsRefusedWithWhere(string input, string mentioned)
    {
        var d = ToolGate.Decide(Registry(), "send_email", input, ["send_email"], All, null, false);

        Assert.Equal(ToolVerdict.Refuse, d.Verdict);
        Assert.Equal(ToolGate.InvalidInput, d.Code);
        Assert.Contains(mentioned, d.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Decide_CreditAboveTheMaximum_IsRefusedBySchema()
    {
        var d = ToolGate.Decide(Registry(), "issue_credit", $$"""{"customer":"c1","amount_cents":{{IssueCreditTool.MaxCents + 1}},"reason":"x"}""", ["issue_credit"], All, null, false);

        Assert.Equal(ToolGate.InvalidInput, d.Code);
    }

    [Theory]
    [InlineData("send_email")]
    [InlineData("issue_credit")]
    public void PlatformDefault_ExternalAndSpendingTools_AreConfirmEachAndCannotBeRaised(string tool)
    {
        var registry = Registry();
        var descriptor = registry.Find(tool)!.Descriptor;

        Assert.Equal(AutonomyLevel.ConfirmEach, descriptor.DefaultLevel);
        Assert.Equal(AutonomyLevel.ConfirmEach, registry.MaxLevel(descriptor));
        Assert.Equal(AutonomyLevel.ConfirmEach, registry.EffectiveLevel(descriptor, (int)AutonomyLevel.Autonomous));
        Assert.Equal(AutonomyLevel.SuggestOnly, registry.EffectiveLevel(descriptor, (int)AutonomyLevel.SuggestOnly));
    }

    [Fact]
    public void Decide_SendEmailValid_NeedsApproval_AndAtL1IsOnlySuggested()
    {
        var asks = ToolGate.Decide(Registry(), "send_email", Email, ["send_email"], All, null, false);
        var suggests = ToolGate.Decide(Registry(), "send_email", Email, ["send_email"], All, (int)AutonomyLevel.SuggestOnly, false);

        Assert.Equal(ToolVerdict.NeedsApproval, asks.Verdict);
        Assert.Equal(ToolVerdict.Suggest, suggests.Verdict);
    }

    [Fact]
    public void Decide_PlatformAllowsMore_L4AsksOncePerRun()
    {
        var registry = Registry(new Dictionary<string, int> { ["send_email"] = 4 });

        var first = ToolGate.Decide(registry, "send_email", Email, ["send_email"], All, 4, approvedEarlierInRun: false);
        var later = ToolGate.Decide(registry, "send_email", Email, ["send_email"], All, 4, approvedEarlierInRun: true);

        Assert.Equal(ToolVerdict.NeedsApproval, first.Verdict);
        Assert.Equal(ToolVerdict.Execute, later.Verdict);
    }

    [Fact]
    public void Decide_ReadToolAtItsDefault_Executes()
    {
        var d = ToolGate.Decide(Registry(), "get_usage_summary", """{"period":"today"}""", ["get_usage_summary"], All, null, false);

        Assert.Equal(ToolVerdict.Execute, d.Verdict);
        Assert.Equal(AutonomyLevel.Autonomous, d.Level);
    }

    [Fact]
    public void Cap_OutputLongerThanTheCap_IsCutWithAMarkerThatCountsTheRest()
    {
        var (output, truncated) = ToolGate.Cap(new string('x', 1_500), 1_000);
        var (shortOutput, shortTruncated) = ToolGate.Cap("ok", 1_000);

        Assert.True(truncated);
        Assert.StartsWith(new string('x', 1_000) + "…[truncated: 500 more characters]", output, StringComparison.Ordinal);
        Assert.False(shortTruncated);
        Assert.Equal("ok", shortOutput);
    }

    [Fact]
    public void Options_ToolMaxLevelOutOfRange_FailsValidationNamingTheSetting()
    {
        var options = new AgentsOptions { ToolMaxLevels = new() { ["send_email"] = 9 } };

        var errors = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).ToList();

        Assert.Contains(errors, e => e.ErrorMessage!.Contains("Agents:ToolMaxLevels:send_email", StringComparison.Ordinal));
    }
}
