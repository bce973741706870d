using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Playwright;

namespace Keystone.Browser.Tests.Agents;

/// <summary>
/// Support opens a tenant's run in the real app (Chromium): the page is rendered on the server first and then again
/// live in the circuit, and that one look is one <c>agent_run.view</c> entry in the audit log, not two (issue 25's
/// follow-up, item 3).
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AgentRunPageAuditTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Support_OpensARunOnce_ThePrerenderAndTheLiveRenderWriteOneAuditEntry()
    {
        var runId = await StartRunAsync();
        var support = await fixture.SignInAsync("support@keystone.demo");

        await support.GotoAsync($"/agents/runs/{runId}");

        // "live" is rendered only after the circuit's own render has loaded the run (and decided whether to audit it).
        await Assertions.Expect(support.Locator("[data-test=run-summary]")).ToHaveAttributeAsync("data-render", "live", new() { Timeout = 30_000 });
        Assert.Equal(1, await ViewEntriesAsync(runId));

        // A second look is a second entry.
        await support.ReloadAsync();
        await Assertions.Expect(support.Locator("[data-test=run-summary]")).ToHaveAttributeAsync("data-render", "live", new() { Timeout = 30_000 });
        Assert.Equal(2, await ViewEntriesAsync(runId));
        await support.Context.CloseAsync();
    }

    /// <summary>Starts a run of Acme's demo agent over the API (the demo key); returns its id.</summary>
    private async Task<Guid> StartRunAsync()
    {
        using var http = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BrowserFixture.DemoApiKey);
        using var agents = JsonDocument.Parse(await http.GetStringAsync("/api/v1/agents"));
        var agentId = agents.RootElement.GetProperty("agents").EnumerateArray()
            .First(a => a.GetProperty("name").GetString() == "Customer helper").GetProperty("id").GetGuid();
        using var started = await http.PostAsync($"/api/v1/agents/{agentId}/runs",
            new StringContent("""{"input":"What did we spend today? [sim:tool=get_usage_summary]"}""", Encoding.UTF8, "application/json"));
        started.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("id").GetGuid();
    }

    private async Task<long> ViewEntriesAsync(Guid runId)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = fixture.DatabasePath, Mode = SqliteOpenMode.ReadOnly, DefaultTimeout = 30 }.ToString());
        await connection.OpenAsync();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM audit_log WHERE action = 'agent_run.view' AND target = $target";
        command.Parameters.AddWithValue("$target", $"agent_run:{runId}");
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
