using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Shell;

/// <summary>
/// Issue 21's journey, in the real app and a real browser: a tenant admin sets a tiny cap on the playground, a member's
/// next call is refused with the plain message (money as money, the reset in the member's own time zone, what to do),
/// the admin's budgets page shows the refusal count and reason as it happens, the admin raises the cap, and the
/// member's next call goes through.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BudgetRefusalJourneyTests(BrowserFixture fixture)
{
    private const string CapId = "feature-playground-day";

    [Fact]
    public async Task TinyCap_MemberRefusedInPlainWords_AdminSeesTheCountRaisesIt_MemberGoesThrough()
    {
        var admin = await fixture.SignInAsync("admin@acme.demo");
        await admin.GotoAsync("/budgets");
        await BrowserFixture.WaitForCircuitAsync(admin);
        await Assertions.Expect(admin.Locator("[data-test=reservation-rule]"))
            .ToContainTextAsync("A call is let through only if its worst case — the prompt plus max tokens at the model's price — fits what is left");
        await SetPlaygroundCapAsync(admin, "0.000001");
        await Assertions.Expect(admin.Locator($"[data-test=refused-count-{CapId}]")).ToHaveTextAsync("none today");

        // The member reads times in Tokyo: the refusal's reset must be in that zone, not UTC.
        var member = await SignInInZoneAsync("member@acme.demo", "Asia/Tokyo");
        await member.GotoAsync("/playground");
        await BrowserFixture.WaitForCircuitAsync(member);
        await member.FillAsync("[data-test=composer]", "What does our refund policy say?");
        await member.ClickAsync("[data-test=send]");

        var message = member.Locator("[data-test=cap-message]");
        await Assertions.Expect(message).ToContainTextAsync("Not sent: the call's worst case ($0.");
        await Assertions.Expect(message).ToContainTextAsync("left of the feature 'playground' day cap ($0.000001;");
        await Assertions.Expect(message).ToContainTextAsync("ask a tenant admin to raise the cap");
        await Assertions.Expect(message).ToContainTextAsync("(your time, Asia/Tokyo)");
        Assert.DoesNotContain("micro-USD", await message.TextContentAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("UTC", await message.TextContentAsync(), StringComparison.Ordinal);
        // Members are told to ask an admin; the link to the budgets page is for admins only.
        await Assertions.Expect(member.Locator("[data-test=cap-admin-link]")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(member, "budget-refusal-member");

        // The admin's page is live: the refusal and its reason arrive without a reload.
        await Assertions.Expect(admin.Locator($"[data-test=refused-count-{CapId}]")).ToHaveTextAsync("1 call refused today", new() { Timeout = 45_000 });
        await Assertions.Expect(admin.Locator($"[data-test=refused-reason-{CapId}]")).ToContainTextAsync("the call's worst case");
        await Assertions.Expect(admin.Locator($"[data-test=fits-{CapId}]")).ToContainTextAsync("left");
        await BrowserFixture.ScreenshotAsync(admin, "budget-refusal-admin");

        await SetPlaygroundCapAsync(admin, "100");
        await Assertions.Expect(admin.Locator($"[data-test=fits-{CapId}]")).ToContainTextAsync("output tokens fit");

        await member.ClickAsync("[data-test=check-again]");
        await member.ClickAsync("[data-test=send]");
        await Assertions.Expect(member.Locator("[data-test=answer]").Last).ToHaveAttributeAsync("data-state", "complete", new() { Timeout = 30_000 });
        await Assertions.Expect(member.Locator("[data-test=cap-message]")).ToHaveCountAsync(0);
        await member.Context.CloseAsync();
        await admin.Context.CloseAsync();
    }

    /// <summary>The budgets form: a day cap on the playground feature (a second save replaces the limit).</summary>
    private static async Task SetPlaygroundCapAsync(IPage admin, string usd)
    {
        await admin.ClickAsync("[data-test=cap-scope-feature]");
        await BrowserFixture.Input(admin, "cap-key").FillAsync("playground");
        await admin.ClickAsync("[data-test=cap-period-day]");
        await BrowserFixture.Input(admin, "cap-limit").FillAsync(usd);
        await BrowserFixture.Input(admin, "cap-limit").PressAsync("Tab");
        await admin.ClickAsync("[data-test=cap-save]");
        await Assertions.Expect(admin.Locator($"[data-test=limit-{CapId}]")).ToHaveTextAsync(usd == "100" ? "$100.00" : "$" + usd);
    }

    /// <summary>Signs in through the login page in a browser whose clock reads <paramref name="zone"/>.</summary>
    private async Task<IPage> SignInInZoneAsync(string email, string zone)
    {
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = fixture.BaseUrl,
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
            TimezoneId = zone,
        });
        context.SetDefaultTimeout(15_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/Account/Login");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", BrowserFixture.DemoPassword);
        await page.ClickAsync("[data-test=sign-in]");
        await page.WaitForURLAsync(url => !url.Contains("/Account/Login", StringComparison.Ordinal));
        await BrowserFixture.WaitForCircuitAsync(page);
        return page;
    }
}
