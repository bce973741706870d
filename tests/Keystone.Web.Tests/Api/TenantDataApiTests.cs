using Keystone.Web.Platform;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Features.Api;
using Keystone.Web.Features.Traces;
using Keystone.Web.Platform.Http;
using Keystone.Web.Tests.Traces;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Api;

/// <summary><c>/api/v1</c>: calls by trace id, usage, feedback, budgets — and that each stays inside the key's tenant.</summary>
public sealed class TenantDataApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<Guid> CallAsync(HttpClient client, string feature, string user, string model = "fast")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json($$"""{"model":"{{model}}","user":"{{user}}","messages":[{"role":"user","content":"usage test {{Guid.NewGuid()}}"}]}"""),
        };
        request.Headers.Add("X-Keystone-Feature", feature);
        var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
    }

    /// <summary>Writes a call row straight into the shared database after a pause, as another instance's recorder would.</summary>
    private async Task InsertCallAsync(Guid tenantId, Guid traceId, TimeSpan after)
    {
        await Task.Delay(after);
        var (call, trace) = TraceTestData.Call(tenantId, DateTime.UtcNow, configure: c => c.TraceId = traceId);
        await using var db = fixture.App.CreateSystemDb();
        db.Calls.Add(call);
        db.Traces.Add(trace);
        await db.SaveChangesAsync();
    }

    [Fact]
    public async Task GetCall_OwnTrace_ReturnsTokensCostProviderAndStatus()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var traceId = await CallAsync(client, "calls-test", "u1", "smart");
        await fixture.FlushCallsAsync();

        using var body = JsonDocument.Parse(await client.GetStringAsync($"/api/v1/calls/{traceId}"));

        var call = body.RootElement;
        Assert.Equal(traceId, call.GetProperty("traceId").GetGuid());
        Assert.Equal("ok", call.GetProperty("status").GetString());
        Assert.Equal("sim", call.GetProperty("provider").GetString());
        Assert.Equal("sim-smart", call.GetProperty("model").GetString());
        Assert.Equal("smart", call.GetProperty("alias").GetString());
        Assert.Equal("calls-test", call.GetProperty("feature").GetString());
        Assert.True(call.GetProperty("tokens").GetProperty("input").GetInt32() > 0);
        Assert.True(call.GetProperty("tokens").GetProperty("output").GetInt32() > 0);
        Assert.True(call.GetProperty("costMicros").GetInt64() > 0);
        Assert.Equal("exact", call.GetProperty("costStatus").GetString());
        Assert.Equal("none", call.GetProperty("cache").GetString());
        Assert.Equal(1, call.GetProperty("attempts").GetInt32());
        Assert.True(call.GetProperty("latencyMs").GetInt32() >= 0);
    }

    [Fact]
    public async Task GetCall_OtherTenantsTrace_Answers404NotForbidden()
    {
        var (globexKey, _) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat usage:read");
        var globexTrace = await CallAsync(fixture.ClientWith(globexKey), "globex-secret-feature", "g1");
        await fixture.FlushCallsAsync();
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var asAcme = await acme.GetAsync($"/api/v1/calls/{globexTrace}");
        var asGlobex = await fixture.ClientWith(globexKey).GetAsync($"/api/v1/calls/{globexTrace}");

        Assert.Equal(HttpStatusCode.NotFound, asAcme.StatusCode);
        Assert.Equal("not_found", (await ChatCompletionsApiTests.ErrorOf(asAcme)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, asGlobex.StatusCode);
    }

    [Fact]
    public async Task GetUsage_ByFeature_SumsOwnCallsAndNeverShowsOtherTenants()
    {
        var (globexKey, _) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat usage:read");
        await CallAsync(fixture.ClientWith(globexKey), "globex-only-feature", "g2");
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var feature = "usage-" + Guid.NewGuid().ToString("N")[..8];
        await CallAsync(acme, feature, "a1");
        await CallAsync(acme, feature, "a2");
        await fixture.FlushCallsAsync();

        using var body = JsonDocument.Parse(await acme.GetStringAsync("/api/v1/usage?groupBy=feature"));

        var rows = body.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.DoesNotContain(rows, r => r.GetProperty("key").GetString() == "globex-only-feature");
        var mine = Assert.Single(rows, r => r.GetProperty("key").GetString() == feature);
        Assert.Equal(2, mine.GetProperty("calls").GetInt64());
        await using var db = fixture.App.CreateSystemDb();
        var expected = await db.Calls.Where(c => c.Feature == feature).SumAsync(c => c.CostMicros);
        Assert.Equal(expected, mine.GetProperty("costMicros").GetInt64());
        Assert.Equal(rows.Sum(r => r.GetProperty("costMicros").GetInt64()), body.RootElement.GetProperty("totalCostMicros").GetInt64());
    }

    [Fact]
    public async Task GetUsage_ByFeature_CountsCacheHitsAndWhatTheySaved()
    {
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var feature = "cached-" + Guid.NewGuid().ToString("N")[..8];
        // Temperature 0: the exact cache answers the repeat.
        var body = $$"""{"model":"fast","temperature":0,"messages":[{"role":"user","content":"same question {{feature}}"}]}""";
        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
            request.Headers.Add("X-Keystone-Feature", feature);
            (await acme.SendAsync(request)).EnsureSuccessStatusCode();
        }

        await fixture.FlushCallsAsync();

        using var usage = JsonDocument.Parse(await acme.GetStringAsync("/api/v1/usage?groupBy=feature"));

        var row = Assert.Single(usage.RootElement.GetProperty("rows").EnumerateArray(), r => r.GetProperty("key").GetString() == feature);
        Assert.Equal(2, row.GetProperty("calls").GetInt64());
        Assert.Equal(1, row.GetProperty("cacheHits").GetInt64());
        Assert.True(row.GetProperty("costMicros").GetInt64() > 0);
        Assert.Equal(row.GetProperty("costMicros").GetInt64(), row.GetProperty("savedCostMicros").GetInt64());
        Assert.True(usage.RootElement.GetProperty("totalSavedCostMicros").GetInt64() >= row.GetProperty("savedCostMicros").GetInt64());
    }

    [Theory]
    [InlineData("day")]
    [InlineData("model")]
    [InlineData("user")]
    public async Task GetUsage_EachGrouping_AnswersRowsWhoseTotalsMatch(string groupBy)
    {
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        await CallAsync(acme, "grouping", "grouping-user");
        await fixture.FlushCallsAsync();

        using var body = JsonDocument.Parse(await acme.GetStringAsync($"/api/v1/usage?groupBy={groupBy}&from={DateTime.UtcNow.AddDays(-7):yyyy-MM-dd}"));

        var rows = body.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.NotEmpty(rows);
        Assert.Equal(groupBy, body.RootElement.GetProperty("groupBy").GetString());
        Assert.Equal(rows.Sum(r => r.GetProperty("calls").GetInt64()), body.RootElement.GetProperty("totalCalls").GetInt64());
        if (groupBy == "day")
        {
            Assert.Contains(rows, r => r.GetProperty("key").GetString() == DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        }
        else if (groupBy == "user")
        {
            Assert.Contains(rows, r => r.GetProperty("key").GetString() == "grouping-user");
        }
        else
        {
            Assert.Contains(rows, r => r.GetProperty("key").GetString() == "sim/sim-fast");
        }
    }

    [Fact]
    public async Task GetUsage_ByApiKey_CountsEachKeysOwnCalls()
    {
        var (secret, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "per-customer");
        var customer = fixture.ClientWith(secret);
        await CallAsync(customer, "billing", "c1");
        await CallAsync(customer, "billing", "c2");
        await CallAsync(fixture.ClientWith(KeystoneAppFactory.DemoApiKey), "billing", "c3");
        await fixture.FlushCallsAsync();

        using var body = JsonDocument.Parse(await fixture.ClientWith(KeystoneAppFactory.DemoApiKey)
            .GetStringAsync($"/api/v1/usage?groupBy=apiKey&from={DateTime.UtcNow.AddDays(-1):yyyy-MM-dd}"));

        Assert.Equal("apiKey", body.RootElement.GetProperty("groupBy").GetString());
        var row = Assert.Single(body.RootElement.GetProperty("rows").EnumerateArray(), r => r.GetProperty("key").GetString() == keyId.ToString());
        Assert.Equal(2, row.GetProperty("calls").GetInt64());
        Assert.True(row.GetProperty("costMicros").GetInt64() > 0);
    }

    [Theory]
    [InlineData("groupBy=week", "groupBy")]
    [InlineData("from=yesterday", "from")]
    [InlineData("from=2026-02-01&to=2026-01-01", "from")]
    public async Task GetUsage_BadQuery_Answers400NamingTheParameter(string query, string param)
    {
        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).GetAsync($"/api/v1/usage?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task PostFeedback_OwnTrace_IsStoredAndShownWithTheCall()
    {
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var traceId = await CallAsync(acme, "feedback-test", "f1");
        await fixture.FlushCallsAsync();

        var response = await acme.PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{traceId}}","score":"down","comment":"Wrong city"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.Feedback.SingleAsync(f => f.TraceId == traceId);
        Assert.Equal(-1, stored.Score);
        Assert.Equal("Wrong city", stored.Comment);
        Assert.Equal(ApiFixture.Acme, stored.TenantId);
        using var call = JsonDocument.Parse(await acme.GetStringAsync($"/api/v1/calls/{traceId}"));
        var shown = Assert.Single(call.RootElement.GetProperty("feedback").EnumerateArray());
        Assert.Equal("down", shown.GetProperty("score").GetString());
    }

    [Fact]
    public async Task PostFeedback_RightAfterTheAnswerWithoutWaitingForTheRecorder_IsStoredAndJoinsTheCall()
    {
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var traceId = await CallAsync(acme, "feedback-test", "f2");

        var response = await acme.PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{traceId}}","score":"up"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await fixture.FlushCallsAsync();
        using var call = JsonDocument.Parse(await acme.GetStringAsync($"/api/v1/calls/{traceId}"));
        Assert.Equal("up", Assert.Single(call.RootElement.GetProperty("feedback").EnumerateArray()).GetProperty("score").GetString());
    }

    [Fact]
    public async Task CallExists_CallAnsweredButRowNotYetWritten_IsTrueForItsTenantOnly()
    {
        var acme = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        await fixture.FlushCallsAsync();
        var recorder = fixture.App.Services.GetRequiredService<CallRecorder>();
        var factory = fixture.App.Services.GetRequiredService<KeystoneDbFactory>();
        // Holding SQLite's write lock keeps the recorder from storing the call, so only the queued call can answer.
        await using var writeLock = new SqliteConnection($"Data Source={fixture.App.Settings["Database:SqlitePath"]}");
        await writeLock.OpenAsync();
        await using (var begin = writeLock.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync();
        }

        var traceId = await CallAsync(acme, "feedback-test", "f3");

        await using (var db = factory.ForTenant(ApiFixture.Acme))
        {
            Assert.False(await db.Calls.AnyAsync(c => c.TraceId == traceId));
            Assert.True(await FeedbackEndpoints.CallExistsAsync(db, recorder, ApiFixture.Acme, traceId, CancellationToken.None));
        }

        await using (var db = factory.ForTenant(ApiFixture.Globex))
        {
            Assert.False(await FeedbackEndpoints.CallExistsAsync(db, recorder, ApiFixture.Globex, traceId, CancellationToken.None));
        }

        await using (var rollback = writeLock.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        await fixture.FlushCallsAsync();
        Assert.False(recorder.IsPending(ApiFixture.Acme, traceId));
        await using (var db = factory.ForTenant(ApiFixture.Acme))
        {
            Assert.True(await FeedbackEndpoints.CallExistsAsync(db, recorder, ApiFixture.Acme, traceId, CancellationToken.None));
        }
    }

    [Fact]
    public async Task PostFeedback_OtherTenantsTrace_Answers404AndStoresNothing()
    {
        var (globexKey, _) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat");
        var globexTrace = await CallAsync(fixture.ClientWith(globexKey), "x", "g3");
        await fixture.FlushCallsAsync();

        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey)
            .PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{globexTrace}}","score":"up"}"""));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.Feedback.AnyAsync(f => f.TraceId == globexTrace));
    }

    [Fact]
    public async Task PostFeedback_CallRowWrittenByAnotherInstanceWithinTheGracePeriod_Answers201()
    {
        var traceId = Guid.NewGuid();
        var timer = Stopwatch.StartNew();

        var posting = fixture.ClientWith(KeystoneAppFactory.DemoApiKey)
            .PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{traceId}}","score":"up","comment":"arrived first"}"""));
        await InsertCallAsync(ApiFixture.Acme, traceId, after: TimeSpan.FromMilliseconds(300));
        using var response = await posting;

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.True(timer.Elapsed >= TimeSpan.FromMilliseconds(300), $"answered after {timer.ElapsedMilliseconds} ms, before the row existed");
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.Feedback.SingleAsync(f => f.TraceId == traceId);
        Assert.Equal(ApiFixture.Acme, stored.TenantId);
        Assert.Equal("arrived first", stored.Comment);
    }

    [Fact]
    public async Task PostFeedback_OtherTenantsRowWrittenWithinTheGracePeriod_Answers404AndStoresNothing()
    {
        var globexTrace = Guid.NewGuid();

        var posting = fixture.ClientWith(KeystoneAppFactory.DemoApiKey)
            .PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{globexTrace}}","score":"up"}"""));
        await InsertCallAsync(ApiFixture.Globex, globexTrace, after: TimeSpan.FromMilliseconds(300));
        using var response = await posting;

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.Feedback.AnyAsync(f => f.TraceId == globexTrace));
    }

    [Fact]
    public async Task PostFeedback_UnknownTrace_Answers404OnceTheGracePeriodHasPassed()
    {
        // The shared app keeps the default (2 s): a second app with a shorter grace would take longer to start.
        var grace = fixture.App.Services.GetRequiredService<IOptions<ApiOptions>>().Value.FeedbackGracePeriod;
        var timer = Stopwatch.StartNew();

        using var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey)
            .PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{Guid.NewGuid()}}","score":"down"}"""));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
        Assert.Equal(TimeSpan.FromSeconds(2), grace);
        Assert.True(timer.Elapsed >= grace, $"answered after {timer.ElapsedMilliseconds} ms");
    }

    [Theory]
    [InlineData("""{"traceId":"nope","score":"up"}""", "traceId")]
    [InlineData("""{"traceId":"01a20549-343e-7b45-9aa3-477c00fef6d4","score":"meh"}""", "score")]
    [InlineData("""{"traceId":"01a20549-343e-7b45-9aa3-477c00fef6d4"}""", "score")]
    public async Task PostFeedback_InvalidBody_Answers400(string body, string param)
    {
        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).PostAsync("/api/v1/feedback", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task PutBudgets_NamedCaps_ReplacesThoseLeavesOthersAndGetShowsCounters()
    {
        var (adminKey, _) = await fixture.CreateKeyAsync(Keystone.Web.Platform.DemoData.InitechId, "admin");
        var admin = fixture.ClientWith(adminKey);
        (await admin.PutAsync("/api/v1/budgets", Json("""
            {"caps":[{"scope":"tenant","key":null,"period":"month","limitMicros":900000},{"scope":"feature","key":"search","period":"day","limitMicros":5000}],
             "softThresholdsPercent":[50,80,100],"actionAtLimit":"block"}
            """))).EnsureSuccessStatusCode();

        var put = await admin.PutAsync("/api/v1/budgets", Json("""{"caps":[{"scope":"feature","key":"search","period":"day","limitMicros":7000}],"actionAtLimit":"degrade"}"""));
        using var body = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/budgets"));

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var caps = body.RootElement.GetProperty("caps").EnumerateArray().ToList();
        var tenantCap = Assert.Single(caps, c => c.GetProperty("scope").GetString() == "tenant");
        Assert.Equal(900000, tenantCap.GetProperty("limitMicros").GetInt64());
        var featureCap = Assert.Single(caps, c => c.GetProperty("scope").GetString() == "feature");
        Assert.Equal(7000, featureCap.GetProperty("limitMicros").GetInt64());
        Assert.Equal("search", featureCap.GetProperty("key").GetString());
        Assert.Equal(0, featureCap.GetProperty("spentMicros").GetInt64());
        Assert.Equal(0, featureCap.GetProperty("reservedMicros").GetInt64());
        Assert.True(featureCap.GetProperty("resetsAtUtc").GetDateTime() > DateTime.UtcNow);
        Assert.Equal([50, 80, 100], body.RootElement.GetProperty("softThresholdsPercent").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("degrade", body.RootElement.GetProperty("actionAtLimit").GetString());
        await using var db = fixture.App.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "budgets.set" && a.TenantId == Keystone.Web.Platform.DemoData.InitechId && a.ActorType == "api_key"));
    }

    [Theory]
    [InlineData("""{"caps":[{"scope":"planet","period":"day","limitMicros":1}]}""", "caps[0].scope")]
    [InlineData("""{"caps":[{"scope":"user","period":"day","limitMicros":1}]}""", "caps[0].key")]
    [InlineData("""{"caps":[{"scope":"tenant","period":"week","limitMicros":1}]}""", "caps[0].period")]
    [InlineData("""{"caps":[{"scope":"tenant","period":"day","limitMicros":-5}]}""", "caps[0].limitMicros")]
    [InlineData("""{"caps":[{"scope":"tenant","period":"day","limitMicros":"lots"}]}""", "caps[0].limitMicros")]
    [InlineData("""{"softThresholdsPercent":[0,150]}""", "softThresholdsPercent")]
    [InlineData("""{"actionAtLimit":"panic"}""", "actionAtLimit")]
    public async Task PutBudgets_InvalidBody_Answers400NamingTheField(string body, string param)
    {
        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).PutAsync("/api/v1/budgets", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task GetBudgets_KeyWithoutAdminScope_Answers403InsufficientScope()
    {
        var (chatKey, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat usage:read");

        var response = await fixture.ClientWith(chatKey).GetAsync("/api/v1/budgets");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("insufficient_scope", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task GetBudgets_AcmeKey_NeverShowsGlobexCaps()
    {
        var (globexAdmin, _) = await fixture.CreateKeyAsync(ApiFixture.Globex, "admin");
        (await fixture.ClientWith(globexAdmin).PutAsJsonAsync("/api/v1/budgets", new
        {
            caps = new[] { new { scope = "feature", key = "globex-private", period = "month", limitMicros = 123 } },
        })).EnsureSuccessStatusCode();

        var acme = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).GetStringAsync("/api/v1/budgets");

        Assert.DoesNotContain("globex-private", acme, StringComparison.Ordinal);
    }
}
