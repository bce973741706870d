using Keystone.Web.Platform;
using Bunit;
using Keystone.Web.Features.Playground;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Playground;

/// <summary>Thumbs up / down on playground answers land on the answer's trace as feedback (the API's store).</summary>
public sealed class PlaygroundFeedbackTests : PlaygroundPageTestBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private async Task<IRenderedComponent<PlaygroundPage>> AnsweredPageAsync()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        Type(page, "Which plan fits a team of five?");
        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());
        page.WaitForAssertion(() => Assert.Equal("complete", page.Find("[data-test=answer]").GetAttribute("data-state")), Wait);
        return page;
    }

    [Fact]
    public async Task Rate_ThumbsDownThenUpThenUpAgain_StoresOneRatingOnTheTraceAndTakesItBack()
    {
        var page = await AnsweredPageAsync();

        await page.Find("[data-test=thumbs-down]").ClickAsync(new MouseEventArgs());

        await FlushRecorderAsync();
        await using (var db = Factory.ForSystem())
        {
            var call = await db.Calls.SingleAsync();
            var feedback = await db.Feedback.SingleAsync();
            Assert.Equal((call.TraceId, DemoData.AcmeId, -1, UserId), (feedback.TraceId, feedback.TenantId, feedback.Score, feedback.UserId));
            Assert.Null(feedback.ApiKeyId);
        }

        page.WaitForAssertion(() => Assert.Equal("true", page.Find("[data-test=thumbs-down]").GetAttribute("aria-pressed")), Wait);
        Assert.Equal("false", page.Find("[data-test=thumbs-up]").GetAttribute("aria-pressed"));

        await page.Find("[data-test=thumbs-up]").ClickAsync(new MouseEventArgs());
        await using (var db = Factory.ForSystem())
        {
            Assert.Equal(1, (await db.Feedback.SingleAsync()).Score);
        }

        page.WaitForAssertion(() => Assert.Equal("true", page.Find("[data-test=thumbs-up]").GetAttribute("aria-pressed")), Wait);

        await page.Find("[data-test=thumbs-up]").ClickAsync(new MouseEventArgs());
        await using (var db = Factory.ForSystem())
        {
            Assert.False(await db.Feedback.AnyAsync());
        }

        page.WaitForAssertion(() => Assert.Equal("false", page.Find("[data-test=thumbs-up]").GetAttribute("aria-pressed")), Wait);
    }

    [Fact]
    public async Task Open_ConversationWithARatedAnswer_ShowsTheRating()
    {
        var page = await AnsweredPageAsync();
        await page.Find("[data-test=thumbs-up]").ClickAsync(new MouseEventArgs());

        var reopened = Render<PlaygroundPage>();
        reopened.WaitForAssertion(() => Assert.NotEmpty(reopened.FindAll("[data-test=conversation-open]")), Wait);
        Assert.Empty(reopened.FindAll("[data-test=thumbs-up]"));
        await reopened.Find("[data-test=conversation-open]").ClickAsync(new MouseEventArgs());

        reopened.WaitForAssertion(() => Assert.Equal("true", reopened.Find("[data-test=thumbs-up]").GetAttribute("aria-pressed")), Wait);
        Assert.Equal("false", reopened.Find("[data-test=thumbs-down]").GetAttribute("aria-pressed"));
    }

    [Fact]
    public async Task RateAsync_TraceNotInTheCallersConversation_StoresNothing()
    {
        var page = await AnsweredPageAsync();
        await using var db = Factory.ForSystem();
        var conversation = await db.Conversations.SingleAsync();
        var feedback = Services.GetRequiredService<PlaygroundFeedback>();

        var stored = await feedback.RateAsync(conversation.Id, Guid.NewGuid(), 1, default);
        var otherConversation = await feedback.RateAsync(Guid.NewGuid(), (await db.ConversationMessages.SingleAsync(m => m.Role == "assistant")).TraceId!.Value, 1, default);

        Assert.False(stored);
        Assert.False(otherConversation);
        Assert.False(await db.Feedback.AnyAsync());
        Assert.NotNull(page.Find("[data-test=thumbs-up]"));
    }
}
