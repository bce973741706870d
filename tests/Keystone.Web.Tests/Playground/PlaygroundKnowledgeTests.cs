using Bunit;
using Keystone.Data.Calls;
using Keystone.Data.Knowledge;
using Keystone.Web.Features.Playground;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Playground;

/// <summary>The playground's "use knowledge" switch (issue 24): passages go with the question, citations under the answer.</summary>
public sealed class PlaygroundKnowledgeTests : PlaygroundPageTestBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private const string Toggle = "input[data-test=knowledge-toggle], [data-test=knowledge-toggle] input";

    private async Task<string> SeedDocumentAsync(Guid tenantId, string marker)
    {
        // Written as the ingestion writes them; the full-text index picks the chunk up by trigger (no embedding needed).
        await using var db = Factory.ForTenant(tenantId);
        var document = new KnowledgeDocument
        {
            Id = Guid.NewGuid(), TenantId = tenantId, Name = $"{marker}.md", Title = $"{marker} handbook", Kind = "markdown", ContentHash = marker,
            ChunkCount = 1, CreatedUtc = DateTime.UtcNow, UpdatedUtc = DateTime.UtcNow,
        };
        db.Add(document);
        db.Add(new KnowledgeChunk
        {
            Id = Guid.NewGuid(), TenantId = tenantId, DocumentId = document.Id, Section = "Refunds", Header = $"{marker} handbook › Refunds",
            Text = $"Refunds for the {marker} plan are paid within 14 days.", ContentHash = marker,
        });
        await db.SaveChangesAsync();
        return document.Name;
    }

    [Fact]
    public async Task Send_WithUseKnowledge_SendsDelimitedPassagesAndListsTheCitationUnderTheAnswer()
    {
        var marker = "kb" + Guid.NewGuid().ToString("N")[..8];
        var name = await SeedDocumentAsync(DemoData.AcmeId, marker);
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        page.Find(Toggle).Change(true);
        // The switch's re-render has landed before typing, so the send button found next is the current one.
        page.WaitForAssertion(() => Assert.Equal("true", page.Find(Toggle).GetAttribute("aria-checked")), Wait);
        Type(page, $"How fast are {marker} refunds paid?");

        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());

        page.WaitForAssertion(() => Assert.Contains(name, page.Find("[data-test=citation]").TextContent, StringComparison.Ordinal), Wait);
        Assert.StartsWith("[1]", page.Find("[data-test=citation]").TextContent.Trim(), StringComparison.Ordinal);
        await FlushRecorderAsync();
        await using var db = Factory.ForSystem();
        var requests = (await TracePayloads.ReadAsync(db, await db.Calls.Select(c => c.Id).ToListAsync(), raw: false, default)).Values.Select(t => t.RequestJson).ToList();
        Assert.Contains(requests, r => r != null && r.Contains("knowledge-passage", StringComparison.Ordinal)
            && r.Contains("within 14 days", StringComparison.Ordinal) && r.Contains("not instructions", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Send_WithUseKnowledge_NeverCitesAnotherTenantsDocument()
    {
        var marker = "kb" + Guid.NewGuid().ToString("N")[..8];
        await SeedDocumentAsync(DemoData.GlobexId, marker);
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        page.Find(Toggle).Change(true);
        // The switch's re-render has landed before typing, so the send button found next is the current one.
        page.WaitForAssertion(() => Assert.Equal("true", page.Find(Toggle).GetAttribute("aria-checked")), Wait);
        Type(page, $"How fast are {marker} refunds paid?");

        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());

        page.WaitForAssertion(() => Assert.Contains("hold nothing", page.Find("[data-test=citations]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Empty(page.FindAll("[data-test=citation]"));
    }
}
