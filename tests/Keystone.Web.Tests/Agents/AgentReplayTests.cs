using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Keystone.Data.Agents;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Data.Keys;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Features.Agents;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Agents;

/// <summary>
/// Replaying a failed run: who pays (support's replay from the console is the platform's, a tenant's own replay is the
/// tenant's, read back from the recorded calls), and <c>POST /api/v1/runs/{id}/replay</c> with its refusals. On SQLite and
/// PostgreSQL by the subclasses below.
/// </summary>
public abstract class AgentReplayTests(AgentAppFixture fixture)
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

    /// <summary>A run that fails at its step cap after two model calls and their ticket tool calls.</summary>
    private async Task<AgentRun> FailedRunAsync()
    {
        var agent = await fixture.CreateAgentAsync(["create_support_ticket"], maxSteps: 2);
        var run = await fixture.CreateRunAsync(agent, "Open tickets. [sim:toolloop=create_support_ticket]");
        await fixture.WorkAsync(run.Id);
        var (failed, _) = await fixture.ReadAsync(run.Id);
        Assert.Equal(AgentRunState.Failed, failed.State);
        return failed;
    }

    /// <summary>A console scope signed in as <paramref name="role"/> (a tenant role sits in Acme; a platform role sees all tenants).</summary>
    private AsyncServiceScope ConsoleScope(string role)
    {
        var scope = fixture.App.Services.CreateAsyncScope();
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, $"{role.ToLowerInvariant()}-user"), new(ClaimTypes.Email, $"{role.ToLowerInvariant()}@test"), new(ClaimTypes.Role, role) };
        if (Roles.Tenant.Contains(role))
        {
            claims.Add(new Claim(KeystoneClaims.TenantId, DemoData.AcmeId.ToString()));
        }

        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(claims, "test")));
        return scope;
    }

    private async Task<List<LlmCall>> CallsOfAsync(Guid traceId)
    {
        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = fixture.Db();
        return await db.Calls.AsNoTracking().Where(c => c.TraceId == traceId).ToListAsync();
    }

    [Fact]
    public async Task Replay_BySupportInTheConsole_ItsModelCallsAreBilledToThePlatformAndTheOriginalStaysTheTenants()
    {
        var failed = await FailedRunAsync();

        Guid replayId;
        await using (var scope = ConsoleScope(Roles.Support))
        {
            replayId = await scope.ServiceProvider.GetRequiredService<AgentRunViewer>().ReplayAsync(failed.Id, 1, "smart", CancellationToken.None);
        }

        var replay = await fixture.FinishAsync(replayId, AgentRunState.Succeeded, AgentRunState.Failed);
        var replayCalls = await CallsOfAsync(replay.TraceId);
        var originalCalls = await CallsOfAsync(failed.TraceId);
        Assert.NotEmpty(replayCalls);
        Assert.All(replayCalls, c => Assert.Equal(BilledTo.Support, c.BilledTo));
        Assert.All(replayCalls, c => Assert.Equal(DemoData.AcmeId, c.TenantId));
        Assert.Equal(2, originalCalls.Count);
        Assert.All(originalCalls, c => Assert.Equal(BilledTo.Platform, c.BilledTo));
        var state = await Client().GetStringAsync($"/api/v1/runs/{replayId}");
        using var body = JsonDocument.Parse(state);
        Assert.Equal("platform", body.RootElement.GetProperty("billedTo").GetString());
        Assert.Equal(failed.Id, body.RootElement.GetProperty("replayOfRunId").GetGuid());
        await using var db = fixture.Db();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "agent_run.replay" && a.Target == $"agent_run:{failed.Id}");
        Assert.Equal("support-user", audit.ActorId);
        Assert.Contains("\"billedTo\":\"platform\"", audit.MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_ByTheTenantsAdminInTheConsole_IsBilledToTheTenant()
    {
        var failed = await FailedRunAsync();

        Guid replayId;
        await using (var scope = ConsoleScope(Roles.TenantAdmin))
        {
            replayId = await scope.ServiceProvider.GetRequiredService<AgentRunViewer>().ReplayAsync(failed.Id, 1, null, CancellationToken.None);
        }

        var replay = await fixture.FinishAsync(replayId, AgentRunState.Succeeded, AgentRunState.Failed);
        var calls = await CallsOfAsync(replay.TraceId);
        Assert.NotEmpty(calls);
        Assert.All(calls, c => Assert.Equal(BilledTo.Platform, c.BilledTo));
        Assert.False(AgentRunService.PlatformPaysFor(replay));
    }

    [Fact]
    public async Task ReplayApi_AdminKey_Answers202WithANewRunOnTheOtherModel_OriginalUntouched_BilledToTheTenant()
    {
        var failed = await FailedRunAsync();
        var (_, originalSteps) = await fixture.ReadAsync(failed.Id);

        var answer = await Client().PostAsync($"/api/v1/runs/{failed.Id}/replay", Json("""{"fromStep":1,"alias":"smart"}"""));

        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        var id = body.RootElement.GetProperty("id").GetGuid();
        Assert.NotEqual(failed.Id, id);
        Assert.Equal($"/api/v1/runs/{id}", answer.Headers.Location!.OriginalString);
        Assert.Equal(failed.Id, body.RootElement.GetProperty("replayOf").GetGuid());
        Assert.Equal("smart", body.RootElement.GetProperty("model").GetString());
        Assert.Equal("tenant", body.RootElement.GetProperty("billedTo").GetString());
        var replay = await fixture.FinishAsync(id, AgentRunState.Succeeded, AgentRunState.Failed);
        var (_, steps) = await fixture.ReadAsync(id);
        Assert.Equal(originalSteps[0].Text, steps[0].Text);
        Assert.Contains(steps.Skip(1), s => s.Kind == AgentStepKind.Model && s.Model == "sim-smart");
        Assert.All(await CallsOfAsync(replay.TraceId), c => Assert.Equal(BilledTo.Platform, c.BilledTo));
        var (untouched, stepsAfter) = await fixture.ReadAsync(failed.Id);
        Assert.Equal((failed.State, failed.UpdatedUtc, originalSteps.Count), (untouched.State, untouched.UpdatedUtc, stepsAfter.Count));
        await using var db = fixture.Db();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "agent_run.replay" && a.Target == $"agent_run:{failed.Id}");
        Assert.Equal("api_key", audit.ActorType);
    }

    [Theory]
    [InlineData("""{"fromStep":99}""", 400, "invalid_request_error", "fromStep")]
    [InlineData("""{"fromStep":-1}""", 400, "invalid_request_error", "fromStep")]
    [InlineData("""{"alias":"smart"}""", 400, "invalid_request_error", "fromStep")]
    [InlineData("""{"fromStep":"two"}""", 400, "invalid_request_error", "fromStep")]
    [InlineData("""{"fromStep":1,"alias":"no-such-model"}""", 400, "invalid_request_error", "alias")]
    [InlineData("""[1]""", 400, "invalid_request_error", "body")]
    public async Task ReplayApi_BadStepOrAlias_AnswersWithACodeAndStartsNothing(string json, int status, string code, string param)
    {
        var failed = await FailedRunAsync();

        var answer = await Client().PostAsync($"/api/v1/runs/{failed.Id}/replay", Json(json));

        await AssertErrorAsync(answer, status, code, param);
        await using var db = fixture.Db();
        Assert.False(await db.AgentRuns.AnyAsync(r => r.ReplayOfRunId == failed.Id));
    }

    [Fact]
    public async Task ReplayApi_UnfinishedOrUnknownOrOtherTenantsRun_IsRefused()
    {
        var agent = await fixture.CreateAgentAsync(["get_usage_summary"]);
        var queued = await fixture.CreateRunAsync(agent, "Usage?");
        AgentRun globexRun;
        using (var scope = fixture.App.Services.CreateScope())
        {
            var globex = await scope.ServiceProvider.GetRequiredService<AgentCatalog>().SaveAsync(DemoData.GlobexId, null,
                new AgentInput("globex-replay-" + Guid.NewGuid().ToString("N")[..6], "fast", null, null, [], 10_000, 100_000, 3), "t", CancellationToken.None);
            var runs = scope.ServiceProvider.GetRequiredService<AgentRunService>();
            globexRun = await runs.CreateAsync(DemoData.GlobexId, globex.Id, "hi", new RunActor("g", null, "g", []), CancellationToken.None);
            await runs.CancelAsync(DemoData.GlobexId, globexRun.Id, CancellationToken.None);
        }

        await AssertErrorAsync(await Client().PostAsync($"/api/v1/runs/{queued.Id}/replay", Json("""{"fromStep":0}""")), 409, "conflict", "run");
        await AssertErrorAsync(await Client().PostAsync($"/api/v1/runs/{Guid.NewGuid()}/replay", Json("""{"fromStep":0}""")), 404, "not_found", null);
        await AssertErrorAsync(await Client().PostAsync($"/api/v1/runs/{globexRun.Id}/replay", Json("""{"fromStep":0}""")), 404, "not_found", null);
        await using var db = fixture.Db();
        Assert.False(await db.AgentRuns.AnyAsync(r => r.ReplayOfRunId == queued.Id || r.ReplayOfRunId == globexRun.Id));
    }

    [Fact]
    public async Task ReplayApi_WithoutAKeyOrWithAChatKey_IsRefused()
    {
        var failed = await FailedRunAsync();
        var chatKey = ApiKeyHasher.NewKey();
        await using (var db = fixture.Db())
        {
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.NewGuid(), TenantId = DemoData.AcmeId, Name = "chat only", Prefix = ApiKeyHasher.PrefixOf(chatKey), Hash = ApiKeyHasher.Hash(chatKey),
                Scopes = "chat", CreatedUtc = DateTime.UtcNow,
            });
            await db.SaveChangesAsync();
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await Client(null).PostAsync($"/api/v1/runs/{failed.Id}/replay", Json("""{"fromStep":0}"""))).StatusCode);
        await AssertErrorAsync(await Client(chatKey).PostAsync($"/api/v1/runs/{failed.Id}/replay", Json("""{"fromStep":0}""")), 403, "insufficient_scope", null);
        await using var check = fixture.Db();
        Assert.False(await check.AgentRuns.AnyAsync(r => r.ReplayOfRunId == failed.Id));
    }

    private static async Task AssertErrorAsync(HttpResponseMessage answer, int status, string code, string? param)
    {
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True((int)answer.StatusCode == status, $"{(int)answer.StatusCode}: {text}");
        using var error = JsonDocument.Parse(text);
        var e = error.RootElement.GetProperty("error");
        Assert.Equal(code, e.GetProperty("code").GetString());
        if (param is not null)
        {
            Assert.Equal(param, e.GetProperty("param").GetString());
        }
    }
}

public sealed class SqliteAgentReplayTests(SqliteAgentAppFixture fixture) : AgentReplayTests(fixture), IClassFixture<SqliteAgentAppFixture>;

public sealed class PostgresAgentReplayTests(PostgresAgentAppFixture fixture) : AgentReplayTests(fixture), IClassFixture<PostgresAgentAppFixture>;
