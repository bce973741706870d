using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Knowledge;

/// <summary>
/// The knowledge journey in a real browser against the app as a separate process: a tenant admin uploads two
/// documents on /knowledge and watches them index with no reload; a member of the same tenant asks the playground a
/// question with "use knowledge" on and sees the answer cite the document that answers it; a member of another tenant
/// asking the same question is told its documents hold nothing, and never sees the first tenant's document.
/// </summary>
/// <remarks>
/// The app runs the product's embedded defaults, so the <c>embed</c> alias is the local all-MiniLM-L6-v2 model (real
/// meaning, loaded in the app process on the first embedding) and both halves of the hybrid search take part; the
/// question also shares its rare words ("Brio", "descale") with the right document only, so the full-text half alone
/// would rank it first too. The answer itself comes from the simulated chat model.
/// </remarks>
[Collection(BrowserCollection.Name)]
public sealed class KnowledgeJourneyTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Upload_TwoDocuments_IndexLive_ThenAnswerCitesTheRightOne_AndAnotherTenantGetsNothingFromThem()
    {
        var marker = Guid.NewGuid().ToString("N")[..6];
        var espresso = $"espresso-{marker}.md";
        var bikes = $"bike-fleet-{marker}.md";

        // 1. The admin uploads both files at once. The files go into the upload's file input, which is what both the
        // drop zone and the "Choose files" button feed (a server-side circuit cannot open a native file dialog for a
        // headless browser without a user gesture, so the test hands the files to the input directly).
        var admin = await fixture.SignInAsync("admin@acme.demo");
        await admin.GotoAsync("/knowledge");
        await BrowserFixture.WaitForCircuitAsync(admin);
        await Assertions.Expect(admin.Locator("[data-test=drop-zone]")).ToBeVisibleAsync();
        await admin.Locator("input[type=file]").First.SetInputFilesAsync(new[]
        {
            File(espresso, $"""
                # Brio espresso machine {marker}

                ## Descaling

                Descale the Brio espresso machine every forty days with the citric acid sachets from the kitchen drawer.
                Run two empty cycles afterwards so that no acid reaches the next cup.

                ## Milk frother

                Wipe the steam wand with a damp cloth straight after each use, and purge it for two seconds.
                """),
            File(bikes, $"""
                # Bike fleet {marker}

                ## Tyres

                Inflate the city bike tyres to four bar every Monday. A tyre below three bar goes to the workshop.

                ## Locks

                Every bike is locked to the rack with its own key; spare keys hang in the reception cabinet.
                """),
        });

        var results = admin.Locator("[data-test=upload-result]");
        await Assertions.Expect(results).ToHaveCountAsync(2, new() { Timeout = 30_000 });
        foreach (var name in new[] { espresso, bikes })
        {
            var row = admin.Locator($"[data-test=document][data-document='{name}']");
            await Assertions.Expect(row).ToBeVisibleAsync();
            // Progress lives on the page: the status turns Ready through the page's own refresh, without a reload.
            await Assertions.Expect(row.Locator("[data-test=document-status]")).ToHaveTextAsync(new Regex("Ready"), new() { Timeout = 120_000 });
        }

        await BrowserFixture.ScreenshotAsync(admin, "knowledge-indexed");
        await admin.Context.CloseAsync();

        // 2. A member of the same tenant asks with "use knowledge" on: the citations under the answer name the espresso
        // document first.
        const string Question = "How often should the Brio espresso machine be descaled?";
        var member = await OpenPlaygroundAsync("member@acme.demo");
        await Toggle(member).CheckAsync();
        await Assertions.Expect(Toggle(member)).ToBeCheckedAsync();
        await member.FillAsync("[data-test=composer]", Question);
        await member.ClickAsync("[data-test=send]");
        await Assertions.Expect(member.Locator("[data-test=answer]").Last).ToHaveAttributeAsync("data-state", "complete", new() { Timeout = 60_000 });
        var citations = member.Locator("[data-test=citation]");
        await Assertions.Expect(citations.First).ToContainTextAsync(espresso, new() { Timeout = 15_000 });
        await Assertions.Expect(citations.First).ToContainTextAsync("Descaling");
        await BrowserFixture.ScreenshotAsync(member, "knowledge-cited-answer");
        await member.Context.CloseAsync();

        // 3. Another tenant's member asks the same: its own (empty) knowledge holds nothing, and nothing of Acme's shows.
        var other = await OpenPlaygroundAsync("admin@globex.demo");
        await Toggle(other).CheckAsync();
        await Assertions.Expect(Toggle(other)).ToBeCheckedAsync();
        await other.FillAsync("[data-test=composer]", Question);
        await other.ClickAsync("[data-test=send]");
        await Assertions.Expect(other.Locator("[data-test=answer]").Last).ToHaveAttributeAsync("data-state", "complete", new() { Timeout = 60_000 });
        await Assertions.Expect(other.Locator("[data-test=citations]")).ToContainTextAsync("hold nothing", new() { Timeout = 15_000 });
        await Assertions.Expect(other.Locator("[data-test=citation]")).ToHaveCountAsync(0);
        Assert.DoesNotContain(marker, await other.Locator("body").InnerTextAsync(), StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(other, "knowledge-other-tenant");
        await other.Context.CloseAsync();
    }

    /// <summary>The "use knowledge" switch's checkbox (MudSwitch puts the data-test on the input).</summary>
    private static ILocator Toggle(IPage page) => page.Locator("input[data-test=knowledge-toggle], [data-test=knowledge-toggle] input").First;

    private static FilePayload File(string name, string markdown) => new() { Name = name, MimeType = "text/markdown", Buffer = Encoding.UTF8.GetBytes(markdown) };

    private async Task<IPage> OpenPlaygroundAsync(string email)
    {
        var page = await fixture.SignInAsync(email);
        await page.GotoAsync("/playground");
        await BrowserFixture.WaitForCircuitAsync(page);
        await Assertions.Expect(page.Locator("[data-test=composer]")).ToBeEnabledAsync();
        return page;
    }
}
