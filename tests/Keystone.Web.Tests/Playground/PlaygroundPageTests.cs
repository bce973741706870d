using Keystone.Web.Platform;
using Bunit;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Web.Features.Playground;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Playground;

public sealed class PlaygroundPageTests : PlaygroundPageTestBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Stop_MidStream_KeepsThePartialAnswerMarkedStoppedAndTheCallIsRecordedCancelled()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        Type(page, "Tell me everything about caching [sim:tps=5]");
        var sending = page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());
        page.WaitForAssertion(() => Assert.NotEmpty(page.Find("[data-test=answer] [data-test=markdown]").TextContent), Wait);

        await page.Find("[data-test=stop]").ClickAsync(new MouseEventArgs());
        await sending;

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=stopped-marker]")), Wait);
        Assert.Equal("stopped", page.Find("[data-test=answer]").GetAttribute("data-state"));
        var partial = page.Find("[data-test=answer] [data-test=markdown]").TextContent;
        Assert.NotEmpty(partial);
        Assert.NotNull(page.Find("[data-test=send]"));
        await FlushRecorderAsync();
        await using var db = Factory.ForSystem();
        var call = await db.Calls.SingleAsync();
        Assert.Equal(CallStatus.Cancelled, call.Status);
        Assert.Equal(CostStatus.Estimated, call.CostStatus);
        Assert.True(call.OutputTokens > 0);
        var saved = await db.ConversationMessages.SingleAsync(m => m.Role == "assistant");
        Assert.Equal(Keystone.Data.Playground.AnswerState.Stopped, saved.State);
        Assert.Equal(partial.Trim(), Markdig.Markdown.ToPlainText(saved.Content).Trim());
    }

    [Fact]
    public async Task Send_OverTheTenantCap_ReplacesSendWithTheCapMessageAndKeepsTheDraft()
    {
        await Budgets.SetAsync(DemoData.AcmeId, [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, 1)], null, BudgetAction.Block, default);
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        Type(page, "Anything at all");

        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());

        page.WaitForAssertion(() => Assert.Contains("cap", page.Find("[data-test=cap-message]").TextContent, StringComparison.OrdinalIgnoreCase), Wait);
        Assert.Empty(page.FindAll("[data-test=send]"));
        Assert.Empty(page.FindAll("[data-test=answer]"));
        Assert.Equal("Anything at all", page.Find("[data-test=composer]").GetAttribute("value"));
    }

    [Fact]
    public async Task Send_ProviderDown_ShowsPlainWordsAndKeepsTheDraft()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        Type(page, "Hello [sim:fail=500]");

        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());

        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send-error]")), Wait);
        Assert.Empty(page.FindAll("[data-test=answer]"));
        Assert.Empty(page.FindAll("[data-test=user-message]"));
        Assert.Equal("Hello [sim:fail=500]", page.Find("[data-test=composer]").GetAttribute("value"));
        Assert.NotNull(page.Find("[data-test=send]"));
    }
}

public sealed class PlaygroundPageWithoutTenantTests : PlaygroundPageTestBase
{
    protected override string Role => Roles.Support;

    [Fact]
    public void Render_PlatformUserWithoutTenant_OffersTheTenantPickOnThePage()
    {
        var page = Render<PlaygroundPage>();

        var pick = page.WaitForElement("[data-test=tenant-pick]");
        Assert.Contains("The playground runs inside one tenant", pick.TextContent, StringComparison.Ordinal);
        Assert.DoesNotContain("witch", pick.TextContent, StringComparison.Ordinal);
        var options = page.FindAll("[data-test=tenant-pick-select] option");
        Assert.Contains(options, o => o.GetAttribute("value") == DemoData.AcmeId.ToString());
        Assert.Equal("/Account/SwitchTenant", page.Find("[data-test=tenant-pick] form").GetAttribute("action"));
        Assert.Empty(page.FindAll("[data-test=composer]"));
    }
}
