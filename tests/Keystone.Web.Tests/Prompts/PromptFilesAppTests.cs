using Keystone.Web.Features.Prompts;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The app imports the repository's prompts/ folder at start; the demo prompt comes from it.</summary>
public sealed class PromptFilesAppTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [Fact]
    public async Task Start_DemoPrompt_ComesFromTheFilesAndTheSecondImportAddsNothing()
    {
        var status = fixture.App.Services.GetRequiredService<PromptImportStatus>();

        await using var db = fixture.App.CreateSystemDb();
        var versions = await db.PromptVersions.AsNoTracking()
            .Where(v => db.Prompts.Any(p => p.Id == v.PromptId && p.Name == PromptsDemoSeed.SupportReply)).OrderBy(v => v.Number).ToListAsync();

        Assert.Equal([1, 2, 3], versions.Select(v => v.Number));
        Assert.All(versions, v => Assert.Equal(PromptFileImporter.ImportUser, v.CreatedByUserId));
        Assert.Equal("prompts/support-reply/v3.md", versions[2].CreatedByName);
        // The demo seed imported first; the start-up import that followed found everything in place.
        Assert.Empty(status.Last.Imported);
        Assert.Empty(status.Last.Conflicts);
        Assert.Empty(status.Last.Errors);
        var again = await fixture.App.Services.GetRequiredService<PromptFileImporter>().ImportAsync(CancellationToken.None);
        Assert.Empty(again.Imported);
    }
}
