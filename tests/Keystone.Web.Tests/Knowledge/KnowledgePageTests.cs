using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Features.Knowledge;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Knowledge;

/// <summary>The /knowledge page over the real app (SQLite, background embedding paused so the test runs the job).</summary>
public sealed class KnowledgePageTests : KeystoneComponentTest, IClassFixture<SqliteKnowledgeFixture>, IAsyncLifetime
{
    // A bound for the page's database round trips and its two-second refresh on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private readonly SqliteKnowledgeFixture _fixture;

    public KnowledgePageTests(SqliteKnowledgeFixture fixture) => _fixture = fixture;

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services dispose only asynchronously.
    public new async Task DisposeAsync() => await base.DisposeAsync();

    private void SignIn(string role, Guid tenantId)
    {
        var scope = _fixture.App.Services.CreateAsyncScope();
        var tenant = scope.ServiceProvider.GetRequiredService<TenantContext>();
        tenant.SetUser(PrincipalFor(role, tenantId));
        Services.AddSingleton(tenant);
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<KnowledgeIngestion>());
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<KnowledgeQueries>());
        Services.AddSingleton(_fixture.App.Services.GetRequiredService<IOptions<KnowledgeOptions>>());
    }

    [Fact]
    public void Render_MemberOfATenantWithoutDocuments_ShowsWhatToDoAndNoUpload()
    {
        SignIn(Roles.TenantMember, Guid.NewGuid());

        var page = Render<KnowledgePage>();

        page.WaitForElement("[data-test=empty-state]", Wait);
        Assert.Contains("tenant admin", page.Find("[data-test=empty-state]").TextContent, StringComparison.Ordinal);
        Assert.Empty(page.FindAll("[data-test=upload]"));
        Assert.Empty(page.FindAll("[data-test=choose-files]"));
    }

    [Fact]
    public async Task Upload_TwoFilesOneBad_ShowsEachOutcomeInPlainWords_AndProgressTurnsReadyWithoutReload()
    {
        var tenantId = DemoData.AcmeId;
        SignIn(Roles.TenantAdmin, tenantId);
        var name = $"page-{Guid.NewGuid():N}";
        var page = Render<KnowledgePage>();
        page.WaitForElement("[data-test=choose-files]", Wait);

        await page.InvokeAsync(() => page.FindComponent<InputFile>().UploadFiles(
            InputFileContent.CreateFromText("# Page test\n\nA first paragraph. It has two sentences.\n\n## More\n\nAnother section.", $"{name}.md"),
            InputFileContent.CreateFromBinary([0x00, 0x01], $"{name}.exe")));

        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-test=upload-result]").Count), Wait);
        var outcomes = page.FindAll("[data-test=upload-result]").Select(e => e.TextContent.Trim()).ToList();
        Assert.StartsWith($"{name}.md: added;", outcomes[0], StringComparison.Ordinal);
        Assert.Contains("is not a supported type", outcomes[1], StringComparison.Ordinal);
        var row = $"[data-test=document][data-document='{name}.md'] [data-test=document-status]";
        Assert.Contains("Indexing: 0 of", page.Find(row).TextContent, StringComparison.Ordinal);

        await _fixture.Job().RunOnceAsync(CancellationToken.None);

        page.WaitForAssertion(() => Assert.Contains("Ready", page.Find(row).TextContent, StringComparison.Ordinal), Wait);
    }

    [Fact]
    public async Task Member_SeesTheTenantsDocumentsButNoUploadOrDelete()
    {
        var tenantId = DemoData.GlobexId;
        var name = $"member-{Guid.NewGuid():N}.txt";
        await _fixture.IngestAsync(tenantId, (name, "Some text a member may read."));
        SignIn(Roles.TenantMember, tenantId);

        var page = Render<KnowledgePage>();

        page.WaitForElement($"[data-document='{name}']", Wait);
        Assert.Empty(page.FindAll("[data-test=delete]"));
        Assert.Empty(page.FindAll("[data-test=upload]"));
    }

    [Fact]
    public async Task Admin_DeleteAfterConfirming_RemovesTheDocument()
    {
        var tenantId = DemoData.GlobexId;
        var name = $"del-{Guid.NewGuid():N}.txt";
        await _fixture.IngestAsync(tenantId, (name, "Some text to delete later."));
        SignIn(Roles.TenantAdmin, tenantId);
        var page = Render<KnowledgePage>();

        page.WaitForElement($"[data-document='{name}'] [data-test=delete]", Wait).Click();
        page.Find($"[data-document='{name}'] [data-test=confirm-delete]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll($"[data-document='{name}']")), Wait);
        await using var db = _fixture.Db.ForSystem();
        Assert.DoesNotContain(db.Set<Keystone.Data.Knowledge.KnowledgeDocument>(), d => d.Name == name);
    }
}
