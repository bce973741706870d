using Bunit;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Evals;

/// <summary>The activate dialog's evidence: both versions' scores, pass rates and cost side by side, the verdict, and progress while runs go.</summary>
public sealed class ActivationGatePanelTests : KeystoneComponentTest
{
    private static ActivationGateSide Side(int version, double? score, double? pass, long? cost, bool done, int completed = 20, string status = "done") =>
        new(version, "fast", Guid.NewGuid(), status, done, score, pass, cost, completed, 20, done ? new DateTime(2026, 12, 6, 9, 30, 0, DateTimeKind.Utc) : null, null);

    [Fact]
    public void Blocked_ShowsBothScoresPassRatesAndCostSideBySide_AndSaysWhyItBlocks()
    {
        var check = new ActivationGateCheck(ActivationGateVerdict.Blocked,
            "Blocked: version 3 scores 82.5, 9.0 points below version 2 (91.5); the tolerance is 5 points.", "reply", 5,
            Side(3, 82.5, 0.8, 7_000, done: true), Side(2, 91.5, 0.95, 43_000, done: true));

        var panel = Render<ActivationGatePanel>(p => p.Add(x => x.Check, check));

        Assert.Equal("blocked", panel.Find("[data-test=gate-verdict]").GetAttribute("data-verdict"));
        Assert.Contains("9.0 points below version 2", panel.Find("[data-test=gate-verdict]").TextContent, StringComparison.Ordinal);
        Assert.Equal(("82.5", "91.5"), (panel.Find("[data-test=gate-score-candidate]").TextContent, panel.Find("[data-test=gate-score-active]").TextContent));
        Assert.Equal(("80%", "95%"), (panel.Find("[data-test=gate-pass-candidate]").TextContent.Replace(" ", "", StringComparison.Ordinal),
            panel.Find("[data-test=gate-pass-active]").TextContent.Replace(" ", "", StringComparison.Ordinal)));
        Assert.Contains("$0.007", panel.Find("[data-test=gate-cost-candidate]").TextContent, StringComparison.Ordinal);
        Assert.Contains("$0.043", panel.Find("[data-test=gate-cost-active]").TextContent, StringComparison.Ordinal);
        Assert.Contains("v3", panel.Find("[data-test=gate-candidate]").TextContent, StringComparison.Ordinal);
        Assert.Contains("v2", panel.Find("[data-test=gate-active]").TextContent, StringComparison.Ordinal);
        Assert.Empty(panel.FindAll("[data-test^=gate-progress]"));
    }

    [Fact]
    public void Pending_ShowsEachUnfinishedRunsProgress()
    {
        var check = new ActivationGateCheck(ActivationGateVerdict.Pending, "The eval runs are not finished: version 3 (5 of 20 examples). Activation waits for both scores.", "reply", 5,
            Side(3, 100, 1, 7_000, done: false, completed: 5, status: "running"), Side(2, 91.5, 0.95, 43_000, done: true));

        var panel = Render<ActivationGatePanel>(p => p.Add(x => x.Check, check));

        Assert.Contains("running · 5 of 20", panel.Find("[data-test=gate-candidate]").TextContent, StringComparison.Ordinal);
        Assert.Single(panel.FindAll("[data-test=gate-progress-candidate]"));
        Assert.Empty(panel.FindAll("[data-test=gate-progress-active]"));
        Assert.Equal("pending", panel.Find("[data-test=gate-verdict]").GetAttribute("data-verdict"));
    }

    [Fact]
    public void NoSet_SaysThereIsNothingToGateOn_AndShowsNoScores()
    {
        var check = new ActivationGateCheck(ActivationGateVerdict.NoSet, "“reply” has no eval set with examples, so there is nothing to gate on: activation is not checked.", null, 5, null, null);

        var panel = Render<ActivationGatePanel>(p => p.Add(x => x.Check, check));

        Assert.Contains("nothing to gate on", panel.Find("[data-test=gate-verdict]").TextContent, StringComparison.Ordinal);
        Assert.Empty(panel.FindAll("[data-test=gate-table]"));
    }
}
