using System.Text.RegularExpressions;
using Keystone.Data.Calls;
using Keystone.Web.Features.Traces;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Traces;

/// <summary>
/// Trace pages as a person reads them (issue 21, "Pages people can read"): a member's call names the member, not the
/// console user id it carries; a call no model answered says why, never a dangling "smart /". Over real HTTP (the
/// pages' server-rendered HTML), SQLite, demo seed, real sign-in.
/// </summary>
public sealed partial class TraceReadabilityTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [GeneratedRegex("""data-test="trace-model"[^>]*>\s*/\s*<""")]
    private static partial Regex DanglingSlash();

    private async Task<(string MemberId, LlmCall Call)> AddPlaygroundCallAsync(string feature, Action<LlmCall>? configure = null)
    {
        await using var db = fixture.App.CreateSystemDb();
        var memberId = await db.Users.Where(u => u.Email == "member@acme.demo").Select(u => u.Id).SingleAsync();
        var row = Call(DemoData.AcmeId, DateTime.UtcNow.AddMinutes(-3), "A question from the playground", "An answer", c =>
        {
            c.Feature = feature;
            c.EndUser = null;
            c.UserId = memberId;
            configure?.Invoke(c);
        });
        db.Calls.Add(row.Call);
        db.Traces.Add(row.Trace);
        await db.SaveChangesAsync();
        return (memberId, row.Call);
    }

    [Fact]
    public async Task PlaygroundCall_SearchAndDetail_NameTheMember_NotTheUserId()
    {
        var feature = $"pg-{Guid.NewGuid():N}"[..16];
        var (memberId, call) = await AddPlaygroundCallAsync(feature);
        var admin = await fixture.App.SignInAsync("admin@acme.demo");

        var search = await admin.GetStringAsync($"/traces?feature={feature}");
        var detail = await admin.GetStringAsync($"/traces/{call.Id}");

        Assert.Contains(call.Id.ToString(), search, StringComparison.Ordinal);
        Assert.Matches("""data-test="trace-user"[^>]*>\s*Max Acme\s*<""", search);
        Assert.DoesNotContain(memberId, search, StringComparison.Ordinal);
        Assert.Matches("""data-test="trace-user"[^>]*>\s*Max Acme\s*<""", detail);
        Assert.DoesNotContain(memberId, detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallRefusedBeforeAnyModel_SaysWhy_WithoutADanglingSlash()
    {
        var feature = $"nomodel-{Guid.NewGuid():N}"[..20];
        var (_, call) = await AddPlaygroundCallAsync(feature, c =>
        {
            c.Provider = null;
            c.Model = null;
            c.Status = CallStatus.Rejected;
            c.ErrorCode = "budget_exceeded";
            c.InputTokens = 0;
            c.OutputTokens = 0;
            c.CostMicros = 0;
        });
        var support = await fixture.App.SignInAsync("support@keystone.demo");

        var search = await support.GetStringAsync($"/traces?feature={feature}");
        var detail = await support.GetStringAsync($"/traces/{call.Id}");

        Assert.Contains(call.Id.ToString(), search, StringComparison.Ordinal);
        Assert.Matches("""data-test="trace-model"[^>]*>\s*no model: budget_exceeded\s*<""", search);
        Assert.DoesNotMatch(DanglingSlash(), search);
        Assert.Matches("""data-test="trace-title"[^>]*>\s*smart → no model\s*<""", detail);
    }

    [Fact]
    public void ModelLine_NamesTheModel_TheCache_OrTheReason()
    {
        var row = ToRow(Call(DemoData.AcmeId, T0).Call);
        Assert.Equal("simulated/sim-large", row.ModelLine);
        Assert.Equal("from cache", (row with { Provider = null, Model = null, Cache = CacheStatus.Exact }).ModelLine);
        Assert.Equal("no model: upstream_unavailable", (row with { Provider = "", Model = null, ErrorCode = "upstream_unavailable" }).ModelLine);
        Assert.Equal("no model", (row with { Provider = "simulated", Model = null }).ModelLine);
        Assert.Equal("end-user-1", row.Who);
        Assert.Equal("Max Acme", (row with { EndUser = null, UserId = "u1", UserName = "Max Acme" }).Who);
    }

    private static TraceRow ToRow(LlmCall c) => new(c.Id, c.TraceId, c.TenantId, "Acme", c.CreatedUtc, c.UserId, c.EndUser, c.Feature, c.Alias,
        c.Provider, c.Model, c.PromptName, c.Status, c.ErrorCode, c.FellBack, c.CacheStatus, c.InputTokens, c.OutputTokens,
        c.CostMicros, c.CostStatus, c.BilledTo, c.LatencyMs, c.ReplayOfCallId);
}
