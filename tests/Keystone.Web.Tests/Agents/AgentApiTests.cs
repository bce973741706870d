using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Testing;
using Keystone.Web.Features.Agents;
using Keystone.Web.Platform;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary><c>/api/v1/agents/{id}/runs</c>, <c>/api/v1/runs/{id}</c>, its SSE events and cancel: answers, error shape, tenant isolation.</summary>
public sealed class AgentApiTests(SqliteAgentAppFixture fixture) : IClassFixture<SqliteAgentAppFixture>
{
    private HttpClient Client(string? key = KeystoneAppFactory.DemoApiKey)
    {
        var client = fixture.App.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Start_Accepted_RunFinishesAndStateAndEventsTellTheWholeStory()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var client = Client();

        var started = await client.PostAsync($"/api/v1/agents/{agent.Id}/runs", Json("""{"input":"What did we spend? [sim:tool=get_usage_summary]"}"""));

        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        using var body = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
        var id = body.RootElement.GetProperty("id").GetGuid();
        Assert.Equal($"/api/v1/runs/{id}", started.Headers.Location!.OriginalString);
        Assert.Equal("queued", body.RootElement.GetProperty("state").GetString());

        await fixture.FinishAsync(id, AgentRunState.Succeeded, AgentRunState.Failed);
        var events = await ReadEventsAsync(client, id, lastEventId: null);
        Assert.Equal(["status", "status", "tool_use", "tool_result", "token", "status", "done"], events.Select(e => e.Type));
        Assert.Equal("succeeded", JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("state").GetString());
        Assert.Equal("get_usage_summary", JsonDocument.Parse(events[2].Data).RootElement.GetProperty("tool").GetString());

        var state = await client.GetAsync($"/api/v1/runs/{id}");
        Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        using var run = JsonDocument.Parse(await state.Content.ReadAsStringAsync());
        Assert.Equal("succeeded", run.RootElement.GetProperty("state").GetString());
        var steps = run.RootElement.GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["model", "tool", "model"], steps.Select(s => s.GetProperty("kind").GetString()));
        Assert.Equal("completed", steps[1].GetProperty("state").GetString());
        Assert.Equal(steps.Sum(s => s.GetProperty("costMicros").GetInt64()), run.RootElement.GetProperty("costMicros").GetInt64());

        var resumed = await ReadEventsAsync(client, id, lastEventId: events[3].Id);
        Assert.Equal(events.Skip(4).Select(e => e.Id), resumed.Select(e => e.Id));
    }

    [Fact]
    public async Task Start_UnknownOrOtherTenantsAgent_Answers404InTheErrorShape()
    {
        AgentView globex;
        using (var scope = fixture.App.Services.CreateScope())
        {
            globex = await scope.ServiceProvider.GetRequiredService<AgentCatalog>().SaveAsync(DemoData.GlobexId, null,
                new AgentInput("globex-agent-" + Guid.NewGuid().ToString("N")[..6], "fast", null, null, [], 10_000, 100_000, 3), "t", CancellationToken.None);
        }

        foreach (var id in new[] { Guid.NewGuid(), globex.Id })
        {
            var answer = await Client().PostAsync($"/api/v1/agents/{id}/runs", Json("""{"input":"hi"}"""));

            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
            using var error = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
            Assert.Equal("not_found", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        }
    }

    [Theory]
    [InlineData("""{"input":""}""", "input")]
    [InlineData("""{"prompt":"hi"}""", "input")]
    [InlineData("""[1]""", "body")]
    public async Task Start_BadBody_Answers400NamingTheField(string json, string param)
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);

        var answer = await Client().PostAsync($"/api/v1/agents/{agent.Id}/runs", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        using var error = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        Assert.Equal(param, error.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task Endpoints_WithoutAKey_Answer401()
    {
        var client = Client(key: null);

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync($"/api/v1/agents/{Guid.NewGuid()}/runs", Json("""{"input":"hi"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"/api/v1/runs/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"/api/v1/runs/{Guid.NewGuid()}/events")).StatusCode);
    }

    [Fact]
    public async Task Get_OtherTenantsRunOrAMalformedId_Answers404()
    {
        AgentRun globexRun;
        using (var scope = fixture.App.Services.CreateScope())
        {
            var globex = await scope.ServiceProvider.GetRequiredService<AgentCatalog>().SaveAsync(DemoData.GlobexId, null,
                new AgentInput("globex-run-" + Guid.NewGuid().ToString("N")[..6], "fast", null, null, [], 10_000, 100_000, 3), "t", CancellationToken.None);
            globexRun = await scope.ServiceProvider.GetRequiredService<AgentRunService>().CreateAsync(DemoData.GlobexId, globex.Id, "hi",
                new RunActor("t", null, "t", []), CancellationToken.None);
        }

        var client = Client();

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/runs/{globexRun.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/runs/{globexRun.Id}/events")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync($"/api/v1/runs/{globexRun.Id}/cancel", Json("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/v1/runs/not-a-guid")).StatusCode);
        var (stillQueued, _) = await fixture.ReadAsync(globexRun.Id);
        Assert.Equal(AgentRunState.Queued, stillQueued.State);
    }

    [Fact]
    public async Task Cancel_QueuedRun_Answers202Cancelled_AndTheStreamEndsWithDone()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "Usage?");
        var client = Client();

        var answer = await client.PostAsync($"/api/v1/runs/{run.Id}/cancel", Json("{}"));

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        var events = await ReadEventsAsync(client, run.Id, null);
        Assert.Equal(["status", "status", "done"], events.Select(e => e.Type));
        Assert.Equal("cancelled", JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Events_StreamOpenWhileTheRunIsCancelled_EndsAtTheNoticeNotAtTheSafetyPoll()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var run = await fixture.CreateRunAsync(agent, "Usage?");
        var client = Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/runs/{run.Id}/events");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reading = response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync($"/api/v1/runs/{run.Id}/cancel", Json("{}"))).StatusCode);

        // The stream waits on the run's notices, re-reading only every Agents:LiveSafetyPollSeconds (15 s) without one:
        // the cancel's notice must end it well before that.
        var text = await reading.WaitAsync(TimeSpan.FromSeconds(8));
        Assert.Contains("event: done", text, StringComparison.Ordinal);
    }

    private sealed record Sse(long Id, string Type, string Data);

    /// <summary>Reads the run's event stream to its <c>done</c> event (the server ends the stream there).</summary>
    private static async Task<List<Sse>> ReadEventsAsync(HttpClient client, Guid runId, long? lastEventId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/runs/{runId}/events");
        if (lastEventId is { } last)
        {
            request.Headers.Add("Last-Event-ID", last.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var text = await response.Content.ReadAsStringAsync(cts.Token);
        return [.. text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(frame =>
        {
            var fields = frame.Split('\n').Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p[1]);
            return new Sse(long.Parse(fields["id"], System.Globalization.CultureInfo.InvariantCulture), fields["event"], fields["data"]);
        })];
    }
}
