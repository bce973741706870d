using Keystone.Web.Platform;
using System.Net;
using Keystone.Data.Calls;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Traces;

/// <summary>The trace pages over real HTTP (SQLite, demo seed, real sign-in): isolation, audit, safe rendering.</summary>
public sealed class TracePagesTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private async Task<LlmCall> AddCallAsync(Guid tenantId, string prompt, string answer, Action<LlmCall>? configure = null)
    {
        var row = Call(tenantId, DateTime.UtcNow.AddMinutes(-5), prompt, answer, configure);
        await using var db = fixture.App.CreateSystemDb();
        db.Calls.Add(row.Call);
        db.Traces.Add(row.Trace);
        await db.SaveChangesAsync();
        return row.Call;
    }

    private async Task<int> AuditCountAsync(string action, Guid callId)
    {
        await using var db = fixture.App.CreateSystemDb();
        var target = $"trace:{callId}";
        return await db.AuditLog.CountAsync(a => a.Action == action && a.Target == target);
    }

    [Fact]
    public async Task Get_OtherTenantsTraceAsTenantAdmin_Answers404WithTheNotFoundPage()
    {
        var globex = await AddCallAsync(DemoData.GlobexId, "Globex private question", "Globex private answer");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var response = await acmeAdmin.GetAsync($"/traces/{globex.Id}");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("data-test=\"not-found\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Globex private", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_OwnTraceAsTenantAdmin_ShowsTheConversationWithoutAuditing()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "Where is parcel 7781?", "It is **out for delivery**.");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var response = await acmeAdmin.GetAsync($"/traces/{acme.Id}");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Where is parcel 7781?", html, StringComparison.Ordinal);
        Assert.Contains("<strong>out for delivery</strong>", html, StringComparison.Ordinal);
        Assert.Equal(0, await AuditCountAsync("trace.view", acme.Id));
    }

    [Fact]
    public async Task Get_TenantTraceAsSupport_IsShownAndAuditedOnce()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "Support should see this", "Answer text");
        var support = await fixture.App.SignInAsync("support@keystone.demo");

        var response = await support.GetAsync($"/traces/{acme.Id}");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Support should see this", html, StringComparison.Ordinal);
        Assert.Equal(1, await AuditCountAsync("trace.view", acme.Id));
        await using var db = fixture.App.CreateSystemDb();
        var target = $"trace:{acme.Id}";
        var entry = await db.AuditLog.SingleAsync(a => a.Action == "trace.view" && a.Target == target);
        Assert.Equal(DemoData.AcmeId, entry.TenantId);
        Assert.Equal("support@keystone.demo", entry.ActorName);
    }

    [Fact]
    public async Task Get_TraceByTraceId_OpensItsCall()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "Opened by trace id", "ok");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await acmeAdmin.GetStringAsync($"/traces/{acme.TraceId}");

        Assert.Contains(acme.Id.ToString(), html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TraceOfAnApiCall_ShowsTheRequestIdTheCustomerSaw()
    {
        var api = fixture.App.CreateClient();
        api.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Keystone.Testing.KeystoneAppFactory.DemoApiKey);
        using var answer = await api.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"fast","messages":[{"role":"user","content":"Quote my request id"}]}""", System.Text.Encoding.UTF8, "application/json"));
        answer.EnsureSuccessStatusCode();
        var requestId = answer.Headers.GetValues("x-request-id").Single();
        await fixture.App.Services.GetRequiredService<Keystone.Gateway.Recording.CallRecorder>().FlushAsync(CancellationToken.None);
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await acmeAdmin.GetStringAsync($"/traces/{answer.Headers.GetValues("X-Keystone-Trace-Id").Single()}");

        Assert.Contains($"request {requestId}", html, StringComparison.Ordinal);
        Assert.Contains("Quote my request id", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_SemanticCacheHit_LinksTheAnsweringCallAndShowsTheQuestionItMatched()
    {
        var source = await AddCallAsync(DemoData.AcmeId, "How long does shipping to Oslo take?", "Three to five days.");
        var hit = await AddCallAsync(DemoData.AcmeId, "How long does shipping to Oslo take, roughly?", "Three to five days.", c =>
        {
            c.CacheStatus = CacheStatus.Semantic;
            c.CacheSourceCallId = source.Id;
            c.CacheSimilarity = 0.9376;
        });
        var miss = await AddCallAsync(DemoData.AcmeId, "An uncached question", "An answer");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await acmeAdmin.GetStringAsync($"/traces/{hit.Id}");
        var plain = await acmeAdmin.GetStringAsync($"/traces/{miss.Id}");

        Assert.Contains($"href=\"/traces/{source.Id}\"", html, StringComparison.Ordinal);
        Assert.Contains("similarity 0.938", html, StringComparison.Ordinal);
        Assert.Contains("matched question: “How long does shipping to Oslo take?”", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"cache-source\"", plain, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TraceWithFeedbackFromTheApiAndThePlayground_ShowsScoresCommentsAndWhoGaveThem()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "Where does my parcel go?", "To Springfield.");
        var api = fixture.App.CreateClient();
        api.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Keystone.Testing.KeystoneAppFactory.DemoApiKey);
        var posted = await api.PostAsync("/api/v1/feedback", new StringContent(
            $$"""{"traceId":"{{acme.TraceId}}","score":"down","comment":"Wrong city, it goes to Shelbyville","user":"cust-42"}""",
            System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        await using (var db = fixture.App.CreateSystemDb())
        {
            // What the playground's thumbs store: the console user, no API key.
            var admin = await db.Users.SingleAsync(u => u.Email == "admin@acme.demo");
            db.Feedback.Add(new Keystone.Data.Feedback.CallFeedback
            {
                Id = Guid.NewGuid(), TenantId = DemoData.AcmeId, TraceId = acme.TraceId, Score = 1, UserId = admin.Id, CreatedUtc = DateTime.UtcNow.AddMinutes(1),
            });
            await db.SaveChangesAsync();
        }

        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");
        var html = await acmeAdmin.GetStringAsync($"/traces/{acme.Id}");

        var start = html.IndexOf("data-test=\"feedback\"", StringComparison.Ordinal);
        var box = html[start..html.IndexOf("data-test=\"trace-tabs\"", start, StringComparison.Ordinal)];
        Assert.Contains("1 up, 1 down", box, StringComparison.Ordinal);
        Assert.Contains("data-score=\"down\"", box, StringComparison.Ordinal);
        Assert.Contains("data-score=\"up\"", box, StringComparison.Ordinal);
        Assert.Contains("Wrong city, it goes to Shelbyville", box, StringComparison.Ordinal);
        Assert.Contains("end user cust-42", box, StringComparison.Ordinal);
        Assert.Contains("Ada Acme", box, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"no-feedback\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TraceWithoutFeedback_SaysSo()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "No one rated this", "ok");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await acmeAdmin.GetStringAsync($"/traces/{acme.Id}");

        Assert.Contains("data-test=\"no-feedback\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"feedback-entry\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_TraceAsTenantMember_IsForbidden()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "members do not read traces", "ok");
        var member = await fixture.App.SignInAsync("member@acme.demo");

        var response = await member.GetAsync($"/traces/{acme.Id}");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Get_TraceWithHostileMarkdown_RendersNoScriptOrJavascriptLink()
    {
        var acme = await AddCallAsync(DemoData.AcmeId, "hi", "<script>alert('x')</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)> [ok](https://example.com)");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await acmeAdmin.GetStringAsync($"/traces/{acme.Id}");

        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"javascript:", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("href=\"https://example.com\"", html, StringComparison.Ordinal);
        Assert.Contains("rel=\"noopener noreferrer nofollow\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_SearchWithWordInUrl_ListsTheMatchingTraceOnly()
    {
        var hit = await AddCallAsync(DemoData.AcmeId, "my toaster is on fire", "unplug it", c => c.Feature = "household");
        var miss = await AddCallAsync(DemoData.AcmeId, "my kettle is cold", "plug it in", c => c.Feature = "household");
        var support = await fixture.App.SignInAsync("support@keystone.demo");

        var html = await support.GetStringAsync("/traces?q=toaster&feature=household");

        Assert.Contains($"/traces/{hit.Id}", html, StringComparison.Ordinal);
        Assert.DoesNotContain($"/traces/{miss.Id}", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_DemoSeed_SupportFindsTheConversationByAWordButNotByTheRedactedEmail()
    {
        await fixture.App.Services.GetRequiredService<Keystone.Gateway.Recording.CallRecorder>().FlushAsync(CancellationToken.None);
        var support = await fixture.App.SignInAsync("support@keystone.demo");

        var espresso = await support.GetStringAsync("/traces?q=espresso&user=acme-cust-1017&feature=support.chat");
        var invoice = await support.GetStringAsync("/traces?q=invoice&user=acme-cust-2044");
        var email = await support.GetStringAsync("/traces?q=maria.lopez%40example.com");

        Assert.Single(LinkedCallIds(espresso));
        Assert.Single(LinkedCallIds(invoice));
        Assert.Empty(LinkedCallIds(email));
        Assert.Contains("data-test=\"empty-state\"", email, StringComparison.Ordinal);
    }

    private static List<string> LinkedCallIds(string html) => System.Text.RegularExpressions.Regex
        .Matches(html, "data-test=\"trace-link\"|href=\"/traces/([0-9a-f-]{36})\"")
        .Select(m => m.Groups[1].Value).Where(v => v.Length > 0).Distinct().ToList();

    [Fact]
    public async Task Get_SearchAsTenantAdmin_DoesNotListOtherTenants()
    {
        var globex = await AddCallAsync(DemoData.GlobexId, "globex ufo sighting", "noted");
        var acme = await AddCallAsync(DemoData.AcmeId, "acme ufo sighting", "noted");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await acmeAdmin.GetStringAsync("/traces?q=ufo");

        Assert.Contains($"/traces/{acme.Id}", html, StringComparison.Ordinal);
        Assert.DoesNotContain($"/traces/{globex.Id}", html, StringComparison.Ordinal);
    }
}
