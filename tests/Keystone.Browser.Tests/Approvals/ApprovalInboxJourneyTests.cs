using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Approvals;

/// <summary>
/// Acme's admin keeps the approvals inbox open in the real app (Chromium) while the tenant's own product decides one
/// pending action over the API: the card leaves the open page and the menu's count drops without a reload. The admin
/// then approves the other one on the page, with a comment, and finds it in the history.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ApprovalInboxJourneyTests(BrowserFixture fixture)
{
    private const string Acme = "A0000000-0000-4000-8000-00000000AC3E";

    [Fact]
    public async Task Admin_InboxFollowsADecisionMadeElsewhereLive_ThenApprovesOnThePageAndFindsItInHistory()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var byApi = await StorePendingActionAsync($"Email the API customer {run}");
        var byPage = await StorePendingActionAsync($"Email the page customer {run}");

        var page = await fixture.SignInAsync("admin@acme.demo");
        await page.ClickAsync("[data-test=nav-approvals]");
        await page.WaitForURLAsync("**/approvals");
        await BrowserFixture.WaitForCircuitAsync(page);
        var apiCard = page.Locator($"[data-test=action-{byApi}]");
        var pageCard = page.Locator($"[data-test=action-{byPage}]");
        await Assertions.Expect(apiCard).ToContainTextAsync($"Email the API customer {run}");
        await Assertions.Expect(pageCard.Locator("[data-test=input-field-to]")).ToContainTextAsync("customer@example.com");
        await Assertions.Expect(pageCard.Locator("[data-test=action-amount]")).ToContainTextAsync("$2.50");
        var badge = page.Locator("[data-test=nav-approvals] [data-test=approvals-badge]");
        var before = int.Parse(await badge.InnerTextAsync(), CultureInfo.InvariantCulture);
        Assert.True(before >= 2, $"the menu counts {before} waiting, expected at least the two stored here");
        await BrowserFixture.ScreenshotAsync(page, "approvals-acme-admin");

        // The tenant's product approves one over the API: the open page follows, no reload.
        using (var api = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/approvals/{byApi}/approve")
            {
                Content = new StringContent("""{"comment":"approved in our product"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrowserFixture.DemoApiKey);
            using var answer = await api.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        await Assertions.Expect(apiCard).ToHaveCountAsync(0);
        await Assertions.Expect(badge).ToHaveTextAsync((before - 1).ToString(CultureInfo.InvariantCulture));

        await pageCard.Locator("input[data-test=action-comment], [data-test=action-comment] input").First.FillAsync("Fine to send");
        await pageCard.Locator("[data-test=action-approve]").ClickAsync();

        await Assertions.Expect(pageCard).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator(".mud-snackbar")).ToContainTextAsync("Approved");
        await page.GetByRole(AriaRole.Tab, new() { Name = "History" }).ClickAsync();
        var history = page.Locator("[data-test=history-table] tr", new() { Has = page.Locator($"[data-test=history-{byPage}]") });
        await Assertions.Expect(history).ToContainTextAsync("approved by admin@acme.demo");
        await Assertions.Expect(history).ToContainTextAsync("Fine to send");
        await Assertions.Expect(page.Locator("[data-test=history-table] tr", new() { Has = page.Locator($"[data-test=history-{byApi}]") }))
            .ToContainTextAsync("approved by API key");
        await BrowserFixture.ScreenshotAsync(page, "approvals-acme-history");
        await page.Context.CloseAsync();
    }

    /// <summary>Stores a pending action in the app's database as an agent run would, for Acme's member, decided by an admin.</summary>
    private async Task<Guid> StorePendingActionAsync(string summary)
    {
        var id = Guid.NewGuid();
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = fixture.DatabasePath, DefaultTimeout = 30 }.ToString());
        await connection.OpenAsync();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO pending_actions (id, tenant_id, tool, input_json, rationale, summary, amount_micros, on_behalf_of_user_id, approver_role,
              input_editable, source_kind, source_id, source_step_key, status, created_utc, expires_utc, handler_attempts)
            VALUES ($id, $tenant, 'send_email', '{"to":"customer@example.com","subject":"Your refund"}', 'The customer asked.', $summary, 2500000,
              (SELECT id FROM "AspNetUsers" WHERE email = 'member@acme.demo'), 'TenantAdmin', 1, 'browser_test', $source, 'step-1', 'pending', $now, $expires, 0)
            """;
        command.Parameters.AddWithValue("$id", id.ToString("D").ToUpperInvariant());
        command.Parameters.AddWithValue("$tenant", Acme);
        command.Parameters.AddWithValue("$summary", summary);
        command.Parameters.AddWithValue("$source", Guid.NewGuid().ToString("D").ToUpperInvariant());
        command.Parameters.AddWithValue("$now", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("$expires", DateTime.UtcNow.AddHours(1).ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture));
        await command.ExecuteNonQueryAsync();
        return id;
    }
}
