using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Shell;

[Collection(BrowserCollection.Name)]
public sealed class SignInJourneyTests(BrowserFixture fixture)
{
    [Theory]
    [InlineData("founder@keystone.demo", "home-PlatformAdmin")]
    [InlineData("support@keystone.demo", "home-Support")]
    [InlineData("product@keystone.demo", "home-PromptEditor")]
    [InlineData("admin@acme.demo", "home-TenantAdmin")]
    [InlineData("member@acme.demo", "home-TenantMember")]
    [InlineData("admin@globex.demo", "home-TenantAdmin")]
    [InlineData("admin@initech.demo", "home-TenantAdmin")]
    public async Task SignIn_DemoUser_LandsOnHomePage(string email, string marker)
    {
        var page = await fixture.SignInAsync(email);

        await page.Locator($"[data-test={marker}]").WaitForAsync();
        Assert.EndsWith("/", page.Url, StringComparison.Ordinal);
        Assert.True(await page.Locator("[data-test=demo-marker]").IsVisibleAsync());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Shell_Founder_ShowsNavigationSwitcherAndTheme()
    {
        var page = await fixture.SignInAsync("founder@keystone.demo");

        await Assertions.Expect(page.Locator("[data-test=nav-tenants]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=tenant-select]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "shell-founder");
        var before = await BackgroundAsync(page);

        await page.ClickAsync("[data-test=theme-toggle]");

        await page.WaitForFunctionAsync("b => getComputedStyle(document.documentElement).getPropertyValue('--mud-palette-background').trim() !== b", before);
        await BrowserFixture.ScreenshotAsync(page, "shell-founder-toggled-theme");
        await page.Context.CloseAsync();
    }

    private static Task<string> BackgroundAsync(IPage page) =>
        page.EvaluateAsync<string>("() => getComputedStyle(document.documentElement).getPropertyValue('--mud-palette-background').trim()");

    [Fact]
    public async Task TenantSwitch_Founder_SwitchesIntoGlobex()
    {
        var page = await fixture.SignInAsync("founder@keystone.demo");

        await page.SelectOptionAsync("[data-test=tenant-select]", new SelectOptionValue { Label = "Globex (Free)" });
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        await BrowserFixture.WaitForCircuitAsync(page);

        var selected = await page.EvalOnSelectorAsync<string>("[data-test=tenant-select]", "s => s.options[s.selectedIndex].text");
        Assert.Equal("Globex (Free)", selected);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ForbiddenPage_Member_SeesThe403Page()
    {
        var page = await fixture.SignInAsync("member@acme.demo");

        var response = await page.GotoAsync("/tenants");

        Assert.Equal(403, response!.Status);
        await Assertions.Expect(page.Locator("[data-test=forbidden]")).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }
}
