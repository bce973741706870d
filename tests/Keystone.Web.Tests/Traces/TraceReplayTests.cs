using Keystone.Web.Platform;
using System.Security.Claims;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Traces;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Traces;

/// <summary>
/// The support journey against the real gateway (simulated provider) in the running app: a call recorded by the
/// gateway is found by a word, opened, replayed on another model, diffed, and saved as an eval example.
/// </summary>
public sealed class TraceReplayTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private static ClaimsPrincipal Support() => new(new ClaimsIdentity(
    [
        new Claim(ClaimTypes.NameIdentifier, "support-user-id"),
        new Claim(ClaimTypes.Email, "support@keystone.demo"),
        new Claim(ClaimTypes.Role, Roles.Support),
    ], "test"));

    private async Task<ChatResult> CallGatewayAsync(string prompt, string endUser)
    {
        var gateway = fixture.App.Services.GetRequiredService<ILlmGateway>();
        var result = await gateway.CompleteAsync(new ChatRequest
        {
            Model = "smart",
            Messages = [new ChatMessage("system", "You are Acme's support bot."), new ChatMessage("user", prompt)],
            MaxTokens = 60,
        }, new CallContext { TenantId = DemoData.AcmeId, EndUser = endUser, Feature = "support.chat" }, CancellationToken.None);
        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        return result;
    }

    private AsyncServiceScope SupportScope()
    {
        var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(Support());
        return scope;
    }

    [Fact]
    public async Task Search_GatewayRecordedCall_IsFoundByPromptWordAndAnswerWordButNotByRedactedEmail()
    {
        var original = await CallGatewayAsync("My flamingo order never arrived, write to jane.flamingo@example.com", "cust-flamingo");
        await using var scope = SupportScope();
        var queries = scope.ServiceProvider.GetRequiredService<TraceQueries>();
        var answerWord = FullTextQuery.Words(original.Text).First(w => w.Length > 4 && w.All(char.IsLetter));

        var byPrompt = await queries.SearchAsync(new TraceFilter { Text = "flamingo", Feature = "support.chat", User = "cust-flamingo" }, null, 10, CancellationToken.None);
        var byAnswer = await queries.SearchAsync(new TraceFilter { Text = answerWord, User = "cust-flamingo" }, null, 10, CancellationToken.None);
        var byEmail = await queries.SearchAsync(new TraceFilter { Text = "jane.flamingo@example.com" }, null, 10, CancellationToken.None);

        Assert.Equal([original.Outcome.CallId], byPrompt.Rows.Select(r => r.CallId));
        Assert.Equal([original.Outcome.CallId], byAnswer.Rows.Select(r => r.CallId));
        Assert.Empty(byEmail.Rows);
    }

    [Fact]
    public async Task Replay_OnAnotherModel_IsRecordedAsSupportReplayLinkedToTheOriginalAndDiffs()
    {
        var original = await CallGatewayAsync("Explain the refund policy for damaged gadgets", "cust-replay");
        await using var scope = SupportScope();
        var viewer = scope.ServiceProvider.GetRequiredService<TraceViewer>();
        var replayer = scope.ServiceProvider.GetRequiredService<TraceReplayer>();
        var detail = await viewer.OpenAsync(original.Outcome.CallId, writeAudit: true, CancellationToken.None)
            ?? throw new InvalidOperationException("the recorded call is not visible to support");

        var events = new List<ChatStreamEvent>();
        await foreach (var e in replayer.ReplayAsync(detail, "fast", CancellationToken.None))
        {
            events.Add(e);
        }

        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        var completed = Assert.IsType<StreamCompleted>(events[^1]);
        Assert.Equal("sim-fast", Assert.Single(events.OfType<StreamStarted>()).Model);
        await using var db = fixture.App.CreateSystemDb();
        var replay = await db.Calls.AsNoTracking().SingleAsync(c => c.Id == completed.Result.Outcome.CallId);
        Assert.Equal(original.Outcome.CallId, replay.ReplayOfCallId);
        Assert.Equal(TraceReplayer.Feature, replay.Feature);
        Assert.Equal(BilledTo.Support, replay.BilledTo);
        Assert.Equal(DemoData.AcmeId, replay.TenantId);
        Assert.Equal("fast", replay.Alias);
        Assert.Equal(string.Concat(events.OfType<TextDelta>().Select(d => d.Text)), completed.Result.Text);
        var diff = WordDiff.Inline(detail.Payload.AnswerText, completed.Result.Text);
        Assert.Equal(completed.Result.Text, string.Concat(diff.Where(s => s.Change != WordChange.Removed).Select(s => s.Text)));
        Assert.Equal(detail.Payload.AnswerText, string.Concat(diff.Where(s => s.Change != WordChange.Added).Select(s => s.Text)));
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "trace.replay" && a.Target == $"trace:{original.Outcome.CallId}"));
        var reopened = await viewer.OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);
        Assert.Equal([replay.Id], reopened!.Replays.Select(r => r.CallId));
    }

    [Fact]
    public async Task SaveEvalExample_FromRecordedCall_StoresMessagesAndExpectedOutputInTheTenant()
    {
        var original = await CallGatewayAsync("Which plan includes priority support?", "cust-eval");
        await using var scope = SupportScope();
        var detail = await scope.ServiceProvider.GetRequiredService<TraceViewer>().OpenAsync(original.Outcome.CallId, writeAudit: true, CancellationToken.None);
        var writer = scope.ServiceProvider.GetRequiredService<EvalExampleWriter>();

        var (id, error) = await writer.SaveAsync(detail!, "The Pro plan includes priority support.", "ticket 1234", CancellationToken.None);
        var (_, emptyError) = await writer.SaveAsync(detail!, "   ", null, CancellationToken.None);

        Assert.Null(error);
        Assert.NotNull(emptyError);
        var factory = fixture.App.Services.GetRequiredService<KeystoneDbFactory>();
        await using var acme = factory.ForTenant(DemoData.AcmeId);
        var example = await acme.EvalExamples.AsNoTracking().SingleAsync(e => e.Id == id);
        Assert.Equal(original.Outcome.CallId, example.SourceCallId);
        Assert.Equal(EvalExampleWriter.DefaultEvalSet, example.EvalSet);
        Assert.Equal("The Pro plan includes priority support.", example.ExpectedOutput);
        Assert.Contains("Which plan includes priority support?", example.InputJson, StringComparison.Ordinal);
        Assert.Equal("support-user-id", example.CreatedByUserId);
        await using var globex = factory.ForTenant(DemoData.GlobexId);
        Assert.False(await globex.EvalExamples.AnyAsync(e => e.Id == id));
        // It is a member of Acme's support set, which the evals page lists and runs.
        var set = await acme.EvalSets.AsNoTracking().SingleAsync(s => s.Name == EvalExampleWriter.DefaultEvalSet);
        Assert.Equal(DemoData.AcmeId, set.TenantId);
        Assert.Contains(await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Evals.EvalSetStore>().ListExamplesAsync(set.Id, CancellationToken.None),
            e => e.Id == id);
    }

    [Fact]
    public async Task OpenRaw_PlatformAdminWithReason_ShowsTheUnredactedPayloadAndAuditsTheReason()
    {
        var original = await CallGatewayAsync("Call me back on my address raw.person@example.com please", "cust-raw");
        await using var founderScope = fixture.App.Services.CreateAsyncScope();
        founderScope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, "founder-user-id"),
            new Claim(ClaimTypes.Email, "founder@keystone.demo"),
            new Claim(ClaimTypes.Role, Roles.PlatformAdmin),
        ], "test")));
        var founder = founderScope.ServiceProvider.GetRequiredService<TraceViewer>();
        await using var supportScope = SupportScope();
        var support = supportScope.ServiceProvider.GetRequiredService<TraceViewer>();
        var redacted = await support.OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => support.OpenRawAsync(original.Outcome.CallId, "ticket 4711: customer disputes", CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => founder.OpenRawAsync(original.Outcome.CallId, "because", CancellationToken.None));
        var raw = await founder.OpenRawAsync(original.Outcome.CallId, "ticket 4711: customer disputes the answer", CancellationToken.None);

        Assert.DoesNotContain("raw.person@example.com", redacted!.Payload.RequestJsonPretty, StringComparison.Ordinal);
        Assert.Contains("raw.person@example.com", raw!.RequestJson, StringComparison.Ordinal);
        await using var db = fixture.App.CreateSystemDb();
        var target = $"trace:{original.Outcome.CallId}";
        var entries = await db.AuditLog.AsNoTracking().Where(a => a.Action == "trace.raw_view" && a.Target == target).ToListAsync();
        var entry = Assert.Single(entries);
        Assert.Contains("ticket 4711", entry.MetadataJson, StringComparison.Ordinal);
        Assert.Equal("founder@keystone.demo", entry.ActorName);
    }
}
