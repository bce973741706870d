using Keystone.Web.Platform;
using Bunit;
using Keystone.Data.Identity;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Features.Traces;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The trace replay panel's prompt version picker, over the real app (gateway with the simulated provider), as support.</summary>
public sealed class TraceReplayPanelPromptTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public TraceReplayPanelPromptTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.Support, "support@keystone.demo");
        foreach (var type in new[] { typeof(TenantContext), typeof(PromptCatalog), typeof(TraceReplayer), typeof(EvalExampleWriter) })
        {
            Services.AddSingleton(type, _scope.ServiceProvider.GetRequiredService(type));
        }

        // As on the server: the panel loads the tenant's models only once the circuit is interactive.
        Renderer.SetRendererInfo(new Microsoft.AspNetCore.Components.RendererInfo("Server", isInteractive: true));
    }

    // A bound for the replay's database and gateway round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services are only async-disposable: bUnit's container must be disposed asynchronously.
    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    [Fact]
    public async Task Replay_PickedPromptVersion_RecordsAReplayOfThatVersionAndShowsTheDiff()
    {
        var (name, v1, v2) = await CreateTwoVersionPromptAsync(_fixture.App);
        var original = await CallAsync(_fixture.App, name, new Dictionary<string, string> { ["company"] = "Acme", ["question"] = "Can I pay by invoice?" }, "cust-panel");
        var detail = await _scope.ServiceProvider.GetRequiredService<TraceViewer>().OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);
        var panel = Render<TraceReplayPanel>(p => p.Add(x => x.Detail, detail!));

        var picker = panel.FindComponents<MudSelect<Guid?>>().Single();
        Assert.Contains("v1 (as recorded)", panel.Markup, StringComparison.Ordinal);
        Assert.Contains("question = \"Can I pay by invoice?\"", panel.Find("[data-test=replay-variables]").TextContent, StringComparison.Ordinal);
        await picker.InvokeAsync(() => picker.Instance.ValueChanged.InvokeAsync(v2.Id));
        panel.Find("[data-test=replay-run]").Click();

        panel.WaitForElement("[data-test=replay-diff]", Wait);
        await _fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = _fixture.App.CreateSystemDb();
        var replay = await db.Calls.AsNoTracking().SingleAsync(c => c.ReplayOfCallId == original.Outcome.CallId);
        Assert.Equal(v2.Id, replay.PromptVersionId);
        Assert.Contains("prompt v2", panel.Markup, StringComparison.Ordinal);
        Assert.Empty(panel.FindAll("[data-test=replay-error]"));
    }

    [Fact]
    public async Task Render_CallWithoutManagedPrompt_OffersNoVersionPicker()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var original = await CallAsync(_fixture.App, name, new Dictionary<string, string> { ["company"] = "Acme", ["question"] = "q" }, "cust-panel-2");
        var detail = await _scope.ServiceProvider.GetRequiredService<TraceViewer>().OpenAsync(original.Outcome.CallId, writeAudit: false, CancellationToken.None);
        // The same trace as if it had been recorded before variables were: no picker (nothing to re-render).
        var withoutVariables = detail! with { Payload = detail.Payload with { PromptVariables = null } };

        var panel = Render<TraceReplayPanel>(p => p.Add(x => x.Detail, withoutVariables));

        Assert.Empty(panel.FindAll("[data-test=replay-prompt-version]"));
        Assert.Empty(panel.FindComponents<MudSelect<Guid?>>());
    }
}
