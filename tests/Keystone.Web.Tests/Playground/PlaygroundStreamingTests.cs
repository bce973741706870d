using Keystone.Web.Platform;
using Bunit;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Web.Features.Playground;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Web.Tests.Playground;

/// <summary>
/// A streamed answer renders piece by piece. The page, the gateway and the simulated provider share a fake clock the
/// test moves forward one render interval at a time, so how many partial renders appear depends on the code, not on
/// how busy the machine is (on real time a loaded CI once starved the render timer down to two renders).
/// </summary>
public sealed class PlaygroundStreamingTests : PlaygroundPageTestBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    protected override TimeProvider Clock => _clock;

    [Fact]
    public async Task Send_SimulatedStream_RendersTheAnswerIncrementallyThenItsCostAndTrace()
    {
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);

        // Read on the renderer's thread after every render; the test thread only reads these two fields.
        var seen = new List<int>();
        var state = "";
        var latest = 0;
        page.OnMarkupUpdated += (_, _) =>
        {
            if (page.FindAll("[data-test=answer]") is not [var answer])
            {
                return;
            }

            var length = answer.QuerySelector("[data-test=markdown]")?.TextContent.Length ?? 0;
            if (answer.GetAttribute("data-state") == "streaming" && length > 0)
            {
                lock (seen)
                {
                    seen.Add(length);
                }
            }

            Volatile.Write(ref latest, length);
            Volatile.Write(ref state, answer.GetAttribute("data-state") ?? "");
        };

        // 20 tokens a second: one token per render interval.
        Type(page, "Explain budgets and caps in detail [sim:tps=20]");
        var sending = page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());

        // The render timer ticks every 50 ms from the send; the first token is due 170 ms after it (120 ms to first
        // token, then one per 50 ms), so the tokens fall in the first half of each interval. Moving the clock half an
        // interval, letting the token arrive, then the other half keeps tokens and ticks from racing; a slow machine
        // only makes the test wait longer.
        var half = new PlaygroundOptions().RenderInterval / 2;
        for (var i = 0; i < 1_000 && Volatile.Read(ref state) != "complete"; i++)
        {
            var before = Volatile.Read(ref latest);
            _clock.Advance(half);
            await Task.Delay(20);
            _clock.Advance(half);
            await EventuallyAsync(() => Volatile.Read(ref latest) != before || Volatile.Read(ref state) == "complete",
                TimeSpan.FromMilliseconds(500));
        }

        Assert.Equal("complete", Volatile.Read(ref state));
        await sending;

        List<int> growing;
        lock (seen)
        {
            growing = seen.Distinct().ToList();
        }

        Assert.True(growing.Count >= 10, $"expected at least 10 partial renders, saw {growing.Count}");
        Assert.Equal(growing.Order(), growing);
        var final = page.Find("[data-test=answer] [data-test=markdown]").TextContent;
        Assert.True(final.Length >= growing[^1]);
        Assert.True(final.Length > growing[0]);
        Assert.Equal("sim/sim-fast", page.Find("[data-test=answer-model]").TextContent);
        Assert.StartsWith("$", page.Find("[data-test=answer-cost]").TextContent);
        var trace = page.Find("[data-test=trace-link]").GetAttribute("href");
        Assert.Matches("^/traces/[0-9a-f-]{36}$", trace);

        await FlushRecorderAsync();
        await using var db = Factory.ForSystem();
        var call = await db.Calls.SingleAsync();
        Assert.Equal(trace, $"/traces/{call.Id}");
        Assert.Equal(("playground", UserId, DemoData.AcmeId, CallStatus.Ok), (call.Feature, call.UserId, call.TenantId, call.Status));
        Assert.True(call.CostMicros > 0);
    }

    private static async Task EventuallyAsync(Func<bool> condition, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (!condition() && DateTime.UtcNow < until)
        {
            await Task.Delay(5);
        }
    }
}
