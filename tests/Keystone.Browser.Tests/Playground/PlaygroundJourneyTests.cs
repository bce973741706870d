using Keystone.Data;
using Keystone.Gateway;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Playground;

[Collection(BrowserCollection.Name)]
public sealed class PlaygroundJourneyTests(BrowserFixture fixture)
{
    private static readonly Guid InitechId = Guid.Parse("a0000000-0000-4000-8000-00000000171e");

    // Records the answer's text length at every DOM change, in the browser, so renders are counted as they land.
    private const string RecordGrowth = """
        () => {
            window.__ksLengths = [];
            new MutationObserver(() => {
                const md = document.querySelector('[data-test=answer][data-state=streaming] [data-test=markdown]');
                if (md) { window.__ksLengths.push(md.textContent.length); }
            }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        }
        """;

    [Fact]
    public async Task Send_Member_SeesTheAnswerGrowThenCostAndTraceLink()
    {
        var page = await OpenPlaygroundAsync("member@acme.demo");
        await page.EvaluateAsync(RecordGrowth);

        await page.FillAsync("[data-test=composer]", "Explain budgets and caps for our product team [sim:tps=10]");
        await page.PressAsync("[data-test=composer]", "Enter");

        var answer = page.Locator("[data-test=answer]");
        await Assertions.Expect(answer).ToHaveAttributeAsync("data-state", "complete", new() { Timeout = 30_000 });
        var lengths = (await page.EvaluateAsync<int[]>("() => window.__ksLengths")).Where(l => l > 0).Distinct().ToList();
        Assert.True(lengths.Count >= 3, $"the answer should grow over several DOM updates; saw {lengths.Count}");
        Assert.Equal(lengths.Order(), lengths);
        await Assertions.Expect(page.Locator("[data-test=answer-cost]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\$\d"));
        Assert.Matches("^/traces/[0-9a-f-]{36}$", await page.Locator("[data-test=trace-link]").GetAttributeAsync("href"));
        Assert.Equal("", await page.InputValueAsync("[data-test=composer]"));
        await BrowserFixture.ScreenshotAsync(page, "playground-answer");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Stop_MidStream_KeepsThePartialAnswerWithStoppedMarkerAndCost()
    {
        var page = await OpenPlaygroundAsync("member@acme.demo");
        await page.FillAsync("[data-test=composer]", "Tell me everything about caching [sim:tps=4]");
        await page.ClickAsync("[data-test=send]");
        var text = page.Locator("[data-test=answer] [data-test=markdown]");
        await Assertions.Expect(text).Not.ToBeEmptyAsync(new() { Timeout = 30_000 });

        await page.ClickAsync("[data-test=stop]");

        await Assertions.Expect(page.Locator("[data-test=stopped-marker]")).ToBeVisibleAsync();
        Assert.NotEmpty((await text.TextContentAsync())!.Trim());
        // The cancelled call is recorded with an estimated cost; the page reads it back once the recorder wrote it.
        await Assertions.Expect(page.Locator("[data-test=answer-cost]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^≈ \$0\.0*[1-9]"), new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("[data-test=send]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "playground-stopped");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Compare_TwoModels_StreamSideBySideWithTheirOwnCosts()
    {
        var page = await OpenPlaygroundAsync("admin@acme.demo");
        await page.Locator("[data-test=compare-toggle]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=compare-model-0]")).ToBeVisibleAsync();

        await page.FillAsync("[data-test=composer]", "Compare caching strategies [sim:tps=60]");
        await page.ClickAsync("[data-test=send]");

        var answers = page.Locator("[data-test=answer-turn] [data-test=answer]");
        await Assertions.Expect(answers).ToHaveCountAsync(2);
        await Assertions.Expect(answers.Nth(0)).ToHaveAttributeAsync("data-state", "complete", new() { Timeout = 30_000 });
        await Assertions.Expect(answers.Nth(1)).ToHaveAttributeAsync("data-state", "complete", new() { Timeout = 30_000 });
        var models = await page.Locator("[data-test=answer-model]").AllTextContentsAsync();
        Assert.Equal(2, models.Distinct().Count());
        Assert.Equal(2, (await page.Locator("[data-test=answer-cost]").AllTextContentsAsync()).Count(c => c.StartsWith('$')));
        var boxes = new[] { await answers.Nth(0).BoundingBoxAsync(), await answers.Nth(1).BoundingBoxAsync() };
        Assert.Equal(boxes[0]!.Y, boxes[1]!.Y, 1.0);
        Assert.True(boxes[1]!.X > boxes[0]!.X);
        await BrowserFixture.ScreenshotAsync(page, "playground-compare");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Send_TinyCap_ShowsTheCapMessageInsteadOfTheSendButton()
    {
        await SetTenantCapAsync(InitechId, limitMicros: 1);
        var page = await OpenPlaygroundAsync("admin@initech.demo");

        await page.FillAsync("[data-test=composer]", "Will this go through?");
        await page.ClickAsync("[data-test=send]");

        await Assertions.Expect(page.Locator("[data-test=cap-message]")).ToContainTextAsync("cap");
        await Assertions.Expect(page.Locator("[data-test=cap-message]")).ToContainTextAsync("resets");
        await Assertions.Expect(page.Locator("[data-test=send]")).ToHaveCountAsync(0);
        Assert.Equal("Will this go through?", await page.InputValueAsync("[data-test=composer]"));
        await BrowserFixture.ScreenshotAsync(page, "playground-cap");
        await page.Context.CloseAsync();
    }

    private async Task<IPage> OpenPlaygroundAsync(string email)
    {
        var page = await fixture.SignInAsync(email);
        await page.GotoAsync("/playground");
        await BrowserFixture.WaitForCircuitAsync(page);
        await Assertions.Expect(page.Locator("[data-test=composer]")).ToBeEnabledAsync();
        return page;
    }

    // Through the product's own budget service on the app's database, as the budgets page or API would.
    private async Task SetTenantCapAsync(Guid tenantId, long limitMicros)
    {
        var configuration = new ConfigurationBuilder().Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Sqlite, SqlitePath = fixture.DatabasePath }));
        services.AddKeystoneData(new KeystoneConnectionStrings { BaseDirectory = Path.GetDirectoryName(fixture.DatabasePath)! });
        services.AddLogging();
        services.AddDataProtection();
        services.AddKeystoneGateway(configuration);
        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<IBudgetService>().SetAsync(tenantId,
            [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Day, limitMicros)], null, BudgetAction.Block, CancellationToken.None);
    }
}
