using Bunit;
using Keystone.Data.Playground;
using Keystone.Web.Features.Playground;
using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Playground;

/// <summary>
/// The open conversation lives in the address (<c>/playground/{id}</c>, issue 21), so a reload reopens it; an address
/// that names no conversation of the caller's (text that is no id, a deleted one, another user's or another tenant's)
/// gets a plain notice and an empty playground, never an error and never someone else's messages. Real gateway
/// (simulated provider) and SQLite, as the other playground page tests.
/// </summary>
public sealed class PlaygroundAddressTests : PlaygroundPageTestBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private NavigationManager Nav => Services.GetRequiredService<NavigationManager>();

    [Fact]
    public async Task Send_PutsTheNewConversationInTheAddress_AndAReloadOfThatAddressReopensIt()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        Type(page, "Remember the parcel 7781");
        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());
        page.WaitForAssertion(() => Assert.Equal("complete", page.Find("[data-test=answer]").GetAttribute("data-state")), Wait);

        await using var db = Factory.ForSystem();
        var saved = await db.Conversations.SingleAsync();
        Assert.EndsWith($"/playground/{saved.Id}", Nav.Uri, StringComparison.Ordinal);

        // The reload: a new page (a new circuit) on that address.
        var reloaded = Render<PlaygroundPage>(p => p.Add(c => c.ConversationId, saved.Id.ToString()));
        reloaded.WaitForAssertion(() => Assert.Contains("Remember the parcel 7781", reloaded.Find("[data-test=user-text]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Single(reloaded.FindAll("[data-test=answer]"));
        Assert.Empty(reloaded.FindAll("[data-test=conversation-not-found]"));

        // A new conversation takes the id out of the address again.
        await reloaded.Find("[data-test=new-conversation]").ClickAsync(new MouseEventArgs());
        Assert.EndsWith("/playground", Nav.Uri, StringComparison.Ordinal);
        Assert.Empty(reloaded.FindAll("[data-test=user-message]"));
    }

    [Theory]
    [InlineData("not-a-conversation")]
    [InlineData("0198f000-0000-7000-8000-000000000000")]
    public void Address_NamingNoConversation_SaysSoInWords_AndShowsAnEmptyPlayground(string id)
    {
        var page = Render<PlaygroundPage>(p => p.Add(c => c.ConversationId, id));

        var notice = page.WaitForElement("[data-test=conversation-not-found]", Wait).TextContent;
        Assert.Contains("Pick one of yours on the left, or start a new one", notice, StringComparison.Ordinal);
        Assert.NotNull(page.Find("[data-test=empty-conversation]"));
        Assert.NotNull(page.Find("[data-test=composer]"));
    }

    [Fact]
    public async Task Address_OfAnotherTenantsOrAnotherUsersConversation_ShowsNoneOfItsMessages()
    {
        await using (var db = Factory.ForSystem())
        {
            foreach (var (tenant, user, text) in new[] { (DemoData.GlobexId, UserId, "Globex secret plan"), (DemoData.AcmeId, "someone-else", "Colleague's secret plan") })
            {
                var conversation = new Conversation
                {
                    Id = Guid.CreateVersion7(), TenantId = tenant, UserId = user, Title = text, Model = "fast",
                    CreatedUtc = DateTime.UtcNow, UpdatedUtc = DateTime.UtcNow,
                };
                db.Conversations.Add(conversation);
                db.ConversationMessages.Add(new ConversationMessage
                {
                    Id = Guid.CreateVersion7(), ConversationId = conversation.Id, TenantId = tenant, Role = "user", Content = text, Sequence = 0,
                });
            }

            await db.SaveChangesAsync();
        }

        await using var read = Factory.ForSystem();
        foreach (var other in await read.Conversations.AsNoTracking().ToListAsync())
        {
            var page = Render<PlaygroundPage>(p => p.Add(c => c.ConversationId, other.Id.ToString()));

            page.WaitForElement("[data-test=conversation-not-found]", Wait);
            Assert.DoesNotContain("secret plan", page.Markup, StringComparison.Ordinal);
        }
    }
}
