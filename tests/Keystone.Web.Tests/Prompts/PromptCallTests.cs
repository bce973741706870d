using Keystone.Web.Platform;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Traces;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary>Calls through a managed prompt and their replay on another version, against the real gateway (simulated provider).</summary>
public sealed class PromptCallTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private static Dictionary<string, string> Vars(string question) => new() { ["company"] = "Acme", ["question"] = question };

    [Fact]
    public async Task Call_ThroughManagedPrompt_RecordsPromptNameVersionAndRedactedVariables()
    {
        var (name, v1, _) = await CreateTwoVersionPromptAsync(fixture.App);

        var result = await CallAsync(fixture.App, name, Vars("Write to pat.prompt@example.com about order 5"), "cust-prompt-1");

        await using var db = fixture.App.CreateSystemDb();
        var call = await db.Calls.AsNoTracking().SingleAsync(c => c.Id == result.Outcome.CallId);
        var trace = (await TracePayloads.ReadOneAsync(db, call.Id, raw: true, default))!;
        Assert.Equal(name, call.PromptName);
        Assert.Equal(v1.Id, call.PromptVersionId);
        var payload = TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson);
        Assert.Equal("Acme", payload.PromptVariables!["company"]);
        Assert.Equal($"Write to {Redactor.EmailToken} about order 5", payload.PromptVariables["question"]);
        Assert.Equal(["system: V1 system for Acme.", $"user: V1: Write to {Redactor.EmailToken} about order 5"], payload.Messages.Select(m => $"{m.Role}: {m.Content}"));
        Assert.DoesNotContain("pat.prompt@example.com", trace.RequestJson, StringComparison.Ordinal);
        Assert.Contains("pat.prompt@example.com", trace.RawRequestJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_OnAnotherPromptVersion_RendersThatVersionWithTheRecordedVariablesAndLinksTheOriginal()
    {
        var (name, _, v2) = await CreateTwoVersionPromptAsync(fixture.App);
        var original = await CallAsync(fixture.App, name, Vars("Is the blue kettle in stock?"), "cust-prompt-2");
        await using var scope = ScopeAs(fixture.App, Roles.Support, "support@keystone.demo");
        var detail = await scope.ServiceProvider.GetRequiredService<TraceViewer>().OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);

        var events = new List<ChatStreamEvent>();
        await foreach (var e in scope.ServiceProvider.GetRequiredService<TraceReplayer>().ReplayAsync(detail!, null, v2.Id, CancellationToken.None))
        {
            events.Add(e);
        }

        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        Assert.Equal(1, detail!.PromptVersionNumber);
        var completed = Assert.IsType<StreamCompleted>(events[^1]);
        await using var db = fixture.App.CreateSystemDb();
        var replay = await db.Calls.AsNoTracking().SingleAsync(c => c.Id == completed.Result.Outcome.CallId);
        Assert.Equal(v2.Id, replay.PromptVersionId);
        Assert.Equal(name, replay.PromptName);
        Assert.Equal(original.Outcome.CallId, replay.ReplayOfCallId);
        Assert.Equal(TraceReplayer.Feature, replay.Feature);
        Assert.Equal(BilledTo.Support, replay.BilledTo);
        var trace = (await TracePayloads.ReadOneAsync(db, replay.Id, raw: true, default))!;
        var payload = TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson);
        Assert.Equal(["system: V2 system for Acme.", "user: V2 asks Is the blue kettle in stock? for Acme"], payload.Messages.Select(m => $"{m.Role}: {m.Content}"));
        Assert.Equal(70, payload.MaxTokens);
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "trace.replay" && a.Target == $"trace:{original.Outcome.CallId}");
        Assert.Contains("\"promptVersion\":2", audit.MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SaveEvalExample_CallThroughPrompt_StoresTheVariablesAndTheMessagesInThePromptsSet()
    {
        var (name, v1, _) = await CreateTwoVersionPromptAsync(fixture.App);
        var original = await CallAsync(fixture.App, name, Vars("Which colours does the kettle come in?"), "cust-prompt-eval");
        await using var scope = ScopeAs(fixture.App, Roles.Support, "support@keystone.demo");
        var detail = await scope.ServiceProvider.GetRequiredService<TraceViewer>().OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);

        var (id, error) = await scope.ServiceProvider.GetRequiredService<EvalExampleWriter>().SaveAsync(detail!, "Red and blue.", null, CancellationToken.None);

        Assert.Null(error);
        await using var db = fixture.App.CreateSystemDb();
        var example = await db.EvalExamples.AsNoTracking().SingleAsync(e => e.Id == id);
        Assert.Equal(name, example.EvalSet);
        Assert.Equal(v1.Id, example.PromptVersionId);
        using var input = System.Text.Json.JsonDocument.Parse(example.InputJson);
        Assert.Equal("Which colours does the kettle come in?", input.RootElement.GetProperty("variables").GetProperty("question").GetString());
        Assert.Equal(2, input.RootElement.GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public async Task Replay_VersionOfAnotherPrompt_IsRefusedWithoutACall()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);
        var (_, _, otherV2) = await CreateTwoVersionPromptAsync(fixture.App);
        var original = await CallAsync(fixture.App, name, Vars("Refuse me"), "cust-prompt-3");
        await using var scope = ScopeAs(fixture.App, Roles.Support, "support@keystone.demo");
        var detail = await scope.ServiceProvider.GetRequiredService<TraceViewer>().OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);
        var replayer = scope.ServiceProvider.GetRequiredService<TraceReplayer>();

        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var _ in replayer.ReplayAsync(detail!, null, otherV2.Id, CancellationToken.None))
            {
            }
        });

        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.Calls.AnyAsync(c => c.ReplayOfCallId == original.Outcome.CallId));
    }

    [Fact]
    public async Task DemoSeed_SupportChats_GoThroughSupportReplyWithAcmesOverrideAndTheGlobalVersionElsewhere()
    {
        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = fixture.App.CreateSystemDb();

        var numbers = await db.PromptVersions.AsNoTracking().ToDictionaryAsync(v => v.Id, v => v.Number);
        var acme = await db.Calls.AsNoTracking().Where(c => c.EndUser == "acme-cust-1017" && c.Feature == "support.chat").ToListAsync();
        var initech = await db.Calls.AsNoTracking().SingleAsync(c => c.EndUser == "initech-ops");
        var globex = await db.Calls.AsNoTracking().SingleAsync(c => c.EndUser == "globex-user-7");

        Assert.Equal(2, acme.Count);
        Assert.All(acme, c => Assert.Equal(("support-reply", 3), (c.PromptName!, numbers[c.PromptVersionId!.Value])));
        Assert.Equal(("support-reply", 2), (initech.PromptName!, numbers[initech.PromptVersionId!.Value]));
        Assert.Null(globex.PromptName);
        var trace = (await TracePayloads.ReadOneAsync(db, acme[0].Id, raw: true, default))!;
        var payload = TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson);
        Assert.Equal("Acme", payload.PromptVariables!["company"]);
        Assert.Equal("acme-cust-1017", payload.PromptVariables["customer_name"]);
    }

    [Fact]
    public async Task GetTrace_CallThroughPrompt_SupportSeesAVersionLinkAndTenantAdminPlainText()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);
        var original = await CallAsync(fixture.App, name, Vars("Link me"), "cust-prompt-4");
        var support = await fixture.App.SignInAsync("support@keystone.demo");
        var acmeAdmin = await fixture.App.SignInAsync("admin@acme.demo");

        var supportHtml = await support.GetStringAsync($"/traces/{original.Outcome.CallId}");
        var adminHtml = await acmeAdmin.GetStringAsync($"/traces/{original.Outcome.CallId}");

        Assert.Contains($"href=\"/prompts/{name}?version=1\"", supportHtml, StringComparison.Ordinal);
        Assert.Contains($"{name} v1", supportHtml, StringComparison.Ordinal);
        Assert.Contains($"{name} v1", adminHtml, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"prompt-link\"", adminHtml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetPromptPage_FromTraceLinkAsSupport_ShowsTheVersionReadOnly()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);
        var support = await fixture.App.SignInAsync("support@keystone.demo");

        var html = await support.GetStringAsync($"/prompts/{name}?version=2");
        var missing = await support.GetAsync("/prompts/no-such-prompt");

        // The template's variables are highlighted (<mark>); its text reads the same without the tags.
        Assert.Contains("V2 asks {{question}} for {{company}}", System.Text.RegularExpressions.Regex.Replace(html, "<[^>]+>", ""), StringComparison.Ordinal);
        Assert.Contains("<mark class=\"ks-var\" data-var=\"question\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"activate-global\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"new-version\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"samples-save\"", html, StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
    }
}
