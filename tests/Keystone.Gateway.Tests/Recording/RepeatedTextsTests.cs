using System.Text.Json;
using Keystone.Data.Calls;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>
/// The recorder's queue holds a long text that repeats from call to call once, not once per queued call (issue 26,
/// decision 0057), and what is stored is unchanged by it.
/// </summary>
public sealed class RepeatedTextsTests
{
    private static readonly string Prompt = string.Concat(Enumerable.Repeat("Follow the house rules in every answer. ", 60));

    // A copy equal to Prompt that is not the same object, as each request's JSON parsing makes one.
    private static string Copy(string text) => new(text.AsSpan());

    [Fact]
    public void Share_AnEqualLongTextFromAnotherRequest_ReturnsTheCopyAlreadyHeld()
    {
        var texts = new RepeatedTexts();
        var first = Copy(Prompt);
        var second = Copy(Prompt);
        Assert.NotSame(first, second);

        Assert.Same(first, texts.Share(first));
        Assert.Same(first, texts.Share(second));
        Assert.Same(first, texts.Share(Copy(Prompt)));
    }

    [Fact]
    public void Share_ShortOrDifferentTexts_AreReturnedAsTheyAre()
    {
        var texts = new RepeatedTexts();
        var shortText = new string('a', RepeatedTexts.MinLength - 1);
        texts.Share(shortText);
        var otherShort = Copy(shortText);
        Assert.Same(otherShort, texts.Share(otherShort));

        texts.Share(Copy(Prompt));
        // Same length and same ends, a different middle: never swapped for the held one.
        var different = Prompt[..600] + "X" + Prompt[601..];
        Assert.Equal(Prompt.Length, different.Length);
        var shared = texts.Share(different);
        Assert.Same(different, shared);
        Assert.Equal(different, shared);
    }

    [Fact]
    public void Share_Request_SwapsLongMessageTextsForTheHeldCopyAndLeavesEverythingElse()
    {
        var texts = new RepeatedTexts();
        var first = Request(Copy(Prompt), "First question?");
        Assert.Same(first, texts.Share(first)); // nothing held yet: the request as it is

        var second = Request(Copy(Prompt), "Second question?");
        var secondPrompt = second.Messages[0].Content;
        var shared = texts.Share(second);

        Assert.NotSame(second, shared);
        Assert.Same(first.Messages[0].Content, shared.Messages[0].Content);
        Assert.Same(second.Messages[1], shared.Messages[1]);
        // The caller's request is not changed, and the shared one serializes to the same JSON the trace stores.
        Assert.Same(secondPrompt, second.Messages[0].Content);
        Assert.Equal(JsonSerializer.Serialize(second), JsonSerializer.Serialize(shared));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Record_CallsSharingASystemPrompt_EachTraceStoresTheWholePromptAndItsOwnQuestion(string database)
    {
        await using var db = database == "postgres" ? (IAsyncDisposable)await PostgresTestDatabase.CreateAsync() : await SqliteTestDatabase.CreateAsync();
        var factory = db is PostgresTestDatabase pg ? pg.CreateFactory() : ((SqliteTestDatabase)db).CreateFactory();
        var tenant = await GatewayHarness.CreateTenantAsync(factory, "acme");
        await using var gateway = await GatewayHarness.CreateAsync(factory);
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            var result = await gateway.Gateway.CompleteAsync(Request(Copy(Prompt), $"Question {i}?") with { Model = "fast" },
                new CallContext { TenantId = tenant }, CancellationToken.None);
            ids.Add(result.Outcome.CallId);
        }

        await gateway.FlushAsync();
        await using var read = factory.ForTenant(tenant);
        // Through the one reader of stored payloads: on SQLite the recorder packs them per batch (decision 56).
        var traces = await TracePayloads.ReadAsync(read, ids, raw: false, CancellationToken.None);
        Assert.Equal(3, traces.Count);
        for (var i = 0; i < 3; i++)
        {
            var request = JsonSerializer.Deserialize<ChatRequest>(traces[ids[i]].RequestJson!, JsonSerializerOptions.Web)!;
            Assert.Equal(Prompt, request.Messages[0].Content);
            Assert.Equal($"Question {i}?", request.Messages[1].Content);
        }
    }

    private static ChatRequest Request(string system, string user) => new()
    {
        Model = "chat",
        Messages = [new ChatMessage("system", system), new ChatMessage("user", user)],
        MaxTokens = 64,
        Temperature = 0.2,
    };
}
