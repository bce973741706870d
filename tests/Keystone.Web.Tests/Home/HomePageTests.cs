using System.Net;
using System.Text.RegularExpressions;
using Keystone.Data.Calls;
using Keystone.Web.Features.Usage;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Home;

/// <summary>
/// Home shows each role its own numbers and next actions (issue 21), read from the real services over the real app
/// (SQLite, demo tenants, users, prompts, caps and key; real sign-in; the page's server-rendered HTML): the founder's
/// month and thinnest customer, support's failed calls with replay links, a tenant admin's spend, caps, refusals and
/// keys, a member's own usage, the prompt editor's drafts and activations; empty states say what to do.
/// </summary>
public sealed class HomePageTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private async Task<LlmCall> AddCallAsync(Guid tenantId, Action<LlmCall> configure)
    {
        var row = Call(tenantId, DateTime.UtcNow.AddMinutes(-2), "home question", "home answer", configure);
        await using var db = fixture.App.CreateSystemDb();
        db.Calls.Add(row.Call);
        db.Traces.Add(row.Trace);
        await db.SaveChangesAsync();
        return row.Call;
    }

    private async Task RollUpAsync()
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<UsageRollupJob>().RunAsync(CancellationToken.None);
    }

    private async Task<string> HomeOfAsync(string email)
    {
        var client = await fixture.App.SignInAsync(email);
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("data-test=\"home-error\"", html, StringComparison.Ordinal);
        return html;
    }

    /// <summary>The text of the element carrying <paramref name="dataTest"/>, white space collapsed.</summary>
    private static string TextOf(string html, string dataTest)
    {
        var element = new AngleSharp.Html.Parser.HtmlParser().ParseDocument(html).QuerySelector($"[data-test={dataTest}]");
        Assert.True(element is not null, $"no {dataTest} on the page");
        return Regex.Replace(element.TextContent, @"\s+", " ").Trim();
    }

    /// <summary>Each body row of the table carrying <paramref name="dataTest"/>, its cells' texts joined by "|".</summary>
    private static List<string> RowsOf(string html, string dataTest)
        => [.. new AngleSharp.Html.Parser.HtmlParser().ParseDocument(html).QuerySelectorAll($"[data-test={dataTest}] tbody tr")
            .Select(r => string.Join("|", r.QuerySelectorAll("td").Select(td => Regex.Replace(td.TextContent, @"\s+", " ").Trim())))];

    [Fact]
    public async Task Founder_SeesRevenueCostMarginAndTheThinnestCustomer_WithItsDrillDownAndWhy()
    {
        // Acme (Pro) sends one expensive call today: more than its month's fee so far, so it is under water.
        await AddCallAsync(DemoData.AcmeId, c => { c.Feature = "home-heavy"; c.Alias = "smart"; c.CostMicros = 40_000_000; });
        await AddCallAsync(DemoData.InitechId, c => { c.Feature = "home-light"; c.CostMicros = 100; });
        await RollUpAsync();

        var html = await HomeOfAsync("founder@keystone.demo");

        Assert.Contains("data-test=\"home-PlatformAdmin\"", html, StringComparison.Ordinal);
        Assert.Matches(@"^\$[\d,]+(\.\d+)?$", TextOf(html, "home-revenue").Split(' ')[1]);
        var monthStart = new DateTime(DateTime.UtcNow.Year, DateTime.UtcNow.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        long monthCost;
        await using (var db = fixture.App.CreateSystemDb())
        {
            monthCost = await db.Calls.Where(c => c.CreatedUtc >= monthStart).SumAsync(c => c.CostMicros);
        }

        Assert.True(monthCost >= 40_000_000);
        Assert.Equal($"Inference cost {Keystone.Web.Components.Shared.Money.Format(monthCost)}", TextOf(html, "home-cost"));
        Assert.Matches(@"^Gross margin -?[\d.]+ %.?\$[\d,.]+$", TextOf(html, "home-margin"));
        Assert.Contains($"href=\"/margin/{DemoData.AcmeId}?from={monthStart:yyyy-MM-dd}&amp;to={monthStart.AddMonths(1).AddDays(-1):yyyy-MM-dd}\"", html, StringComparison.Ordinal);
        Assert.Equal("Acme", TextOf(html, "home-thinnest-link"));
        Assert.Contains("home-heavy on the smart alias: $40.00", TextOf(html, "home-thinnest-why"), StringComparison.Ordinal);
        Assert.Contains("href=\"/margin\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Support_SeesFailedCallsTodayAndTheNewestFailures_EachWithAReplayLink()
    {
        var failed = await AddCallAsync(DemoData.GlobexId, c =>
        {
            c.Status = CallStatus.Error;
            c.ErrorCode = "upstream_unavailable";
            c.Feature = "home-failing";
        });

        var html = await HomeOfAsync("support@keystone.demo");

        Assert.Contains("data-test=\"home-Support\"", html, StringComparison.Ordinal);
        Assert.True(int.Parse(TextOf(html, "home-failed-today").Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture) >= 1);
        Assert.Contains($"href=\"/traces/{failed.Id}\" data-test=\"home-replay-link\"", Regex.Replace(html, "class=\"[^\"]*\" ", ""), StringComparison.Ordinal);
        Assert.Contains("upstream_unavailable", TextOf(html, "home-failed"), StringComparison.Ordinal);
        Assert.Contains("Globex", TextOf(html, "home-failed"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantAdmin_SeesSpendCapsRefusalsTodayAndKeys_OfTheirOwnTenantOnly()
    {
        await AddCallAsync(DemoData.AcmeId, c =>
        {
            c.Status = CallStatus.Rejected;
            c.ErrorCode = "budget_exceeded";
            c.Provider = null;
            c.Model = null;
            c.CostMicros = 0;
        });
        await AddCallAsync(DemoData.GlobexId, c => { c.Status = CallStatus.Rejected; c.ErrorCode = "budget_exceeded"; c.CostMicros = 0; });
        string memberId;
        await using (var db = fixture.App.CreateSystemDb())
        {
            memberId = await db.Users.Where(u => u.Email == "member@acme.demo").Select(u => u.Id).SingleAsync();
        }

        await fixture.App.Services.GetRequiredService<Keystone.Gateway.IBudgetService>().SetAsync(DemoData.AcmeId,
            [new Keystone.Gateway.BudgetCapInput(Keystone.Gateway.BudgetScope.User, memberId, Keystone.Gateway.BudgetPeriod.Day, 2_000_000)],
            null, null, CancellationToken.None);

        var html = await HomeOfAsync("admin@acme.demo");

        // A per-user cap names the member, never the console user id it is keyed by.
        Assert.Contains("Max Acme, per day|$0.00 (0.0 %)|$2.00|none", RowsOf(html, "home-caps"));
        Assert.DoesNotContain(memberId, html, StringComparison.Ordinal);

        Assert.Contains("data-test=\"home-TenantAdmin\"", html, StringComparison.Ordinal);
        Assert.Equal("Calls refused by a cap today (UTC) 1", TextOf(html, "home-refused"));
        Assert.StartsWith("Spent this month $", TextOf(html, "home-spent"), StringComparison.Ordinal);
        Assert.Contains("data-test=\"home-caps\"", html, StringComparison.Ordinal); // the demo's Acme caps
        Assert.Matches(@"Live API keys [1-9]", TextOf(html, "home-keys"));
        await using (var db = fixture.App.CreateSystemDb())
        {
            var prefix = await db.ApiKeys.Where(k => k.TenantId == DemoData.AcmeId && k.RevokedUtc == null).Select(k => k.Prefix).FirstAsync();
            Assert.Contains(prefix, TextOf(html, "home-key-list"), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("Globex", TextOf(html, "home-caps"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantAdminWithoutCaps_IsToldNothingStopsSpend_AndWhereToSetACap()
    {
        var budgets = fixture.App.Services.GetRequiredService<Keystone.Gateway.IBudgetService>();
        foreach (var cap in (await budgets.GetAsync(DemoData.GlobexId, CancellationToken.None)).Caps)
        {
            await budgets.RemoveAsync(DemoData.GlobexId, cap.Scope, cap.Key, cap.Period, CancellationToken.None);
        }

        var html = await HomeOfAsync("admin@globex.demo");

        Assert.Contains("No cap is set", TextOf(html, "home-empty"), StringComparison.Ordinal);
        Assert.Contains("href=\"/budgets\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Member_SeesTheirOwnCallsAndCost_AndTheWayToThePlayground()
    {
        string memberId;
        await using (var db = fixture.App.CreateSystemDb())
        {
            memberId = await db.Users.Where(u => u.Email == "member@acme.demo").Select(u => u.Id).SingleAsync();
        }

        await AddCallAsync(DemoData.AcmeId, c => { c.UserId = memberId; c.EndUser = null; c.Feature = "playground"; c.CostMicros = 1_500; });
        await AddCallAsync(DemoData.AcmeId, c => { c.UserId = memberId; c.EndUser = null; c.Feature = "playground"; c.CostMicros = 2_500; });
        await AddCallAsync(DemoData.AcmeId, c => { c.UserId = null; c.Feature = "someone-elses"; c.CostMicros = 9_000_000; });

        var html = await HomeOfAsync("member@acme.demo");

        Assert.Contains("data-test=\"home-TenantMember\"", html, StringComparison.Ordinal);
        Assert.Equal("Your calls this month 2", TextOf(html, "home-my-calls"));
        Assert.Equal("Their cost $0.004", TextOf(html, "home-my-cost"));
        Assert.Equal("By feature: playground 2 calls", TextOf(html, "home-my-features"));
        Assert.Contains("href=\"/playground\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PromptEditor_SeesDraftsWaitingForActivation_AndRecentActivations()
    {
        var html = await HomeOfAsync("product@keystone.demo");

        Assert.Contains("data-test=\"home-PromptEditor\"", html, StringComparison.Ordinal);
        // The demo prompt: v3 exists (Acme's override), v2 is active for everyone.
        Assert.Contains("support-reply|v3|v2", RowsOf(html, "home-drafts"));
        Assert.Contains("href=\"/prompts/support-reply?version=3\"", html, StringComparison.Ordinal);
        Assert.Contains("support-reply", TextOf(html, "home-activations"), StringComparison.Ordinal);
    }
}
