using System.Collections.Concurrent;

namespace Keystone.Gateway.Tests.Pipeline;

public sealed class CallIdsTests
{
    [Fact]
    public void NewVersion7_HasTheRuntimesLayout()
    {
        var at = new DateTimeOffset(2026, 11, 23, 9, 41, 12, 345, TimeSpan.Zero);

        var ours = CallIds.NewVersion7(at).ToString();
        var runtime = Guid.CreateVersion7(at).ToString();

        // Same 48-bit millisecond prefix, version nibble 7 and variant 10xx as the runtime's own v7 ids.
        Assert.Equal(runtime[..13], ours[..13]);
        Assert.Equal('7', ours[14]);
        Assert.Contains(ours[19], "89ab");
        Assert.Equal(7, CallIds.NewVersion7(at).Version);
        Assert.Equal(0b1000, CallIds.NewVersion7(at).Variant & 0b1100);
    }

    [Fact]
    public void NewVersion7_LaterMillisecond_SortsLater()
    {
        var at = DateTimeOffset.UtcNow;

        var first = CallIds.NewVersion7(at);
        var second = CallIds.NewVersion7(at.AddMilliseconds(1));

        Assert.True(string.CompareOrdinal(first.ToString(), second.ToString()) < 0);
    }

    [Fact]
    public void Ids_FromSeveralThreads_AreAllDistinct()
    {
        // 4 threads × 25,000 ids each spend many 64-id pools: a pool reused or shared would repeat ids.
        var seen = new ConcurrentDictionary<string, bool>();
        var at = DateTimeOffset.UtcNow;
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
        {
            for (var i = 0; i < 12_500; i++)
            {
                Assert.True(seen.TryAdd(CallIds.NewVersion7(at).ToString(), true));
                Assert.True(seen.TryAdd(CallIds.NewHex(), true));
            }
        });

        Assert.Equal(100_000, seen.Count);
    }

    [Fact]
    public void NewHex_IsAVersion4IdIn32HexDigits()
    {
        var id = CallIds.NewHex();

        Assert.Matches("^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$", id);
        Assert.Equal(4, Guid.ParseExact(id, "N").Version);
    }

    [Fact]
    public void TryParseTraceId_RequestIdOrGuid_GivesTheTraceBack()
    {
        var trace = CallIds.NewVersion7(TimeProvider.System.GetUtcNow());
        var requestId = CallIds.RequestIdOf(trace);

        Assert.Matches("^req_[0-9a-f]{32}$", requestId);
        Assert.True(CallIds.TryParseTraceId(requestId, out var fromRequest));
        Assert.True(CallIds.TryParseTraceId($"  {trace}  ", out var fromGuid));
        Assert.True(CallIds.TryParseTraceId(requestId.ToUpperInvariant().Replace("REQ_", "req_", StringComparison.Ordinal), out var fromUpper));
        Assert.Equal(trace, fromRequest);
        Assert.Equal(trace, fromGuid);
        Assert.Equal(trace, fromUpper);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("req_")]
    [InlineData("req_not-hex-at-all")]
    [InlineData("req_0191a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b")]
    [InlineData("chatcmpl-123")]
    public void TryParseTraceId_Garbage_IsRefused(string? text) => Assert.False(CallIds.TryParseTraceId(text, out _));
}
