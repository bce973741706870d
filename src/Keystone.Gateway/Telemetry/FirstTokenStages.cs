using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Keystone.Gateway.Telemetry;

/// <summary>
/// A benchmark's stage-by-stage profile of one stream's first token inside Keystone (issue 26; docs/benchmarks.md,
/// "First token, stage by stage"): when on, each stage of a request that started a profile (<see cref="Begin"/>) stores
/// the monotonic clock (<see cref="Stopwatch.GetTimestamp"/>, the same clock in every process of the machine) at its
/// first pass. Off unless the benchmark's serve mode turns it on: then <see cref="Mark"/> is one read of a static field,
/// no timestamp, no allocation, and nothing in the product turns it on.
/// </summary>
public static class FirstTokenStages
{
    /// <summary>The stages in the order a stream passes them.</summary>
    public enum Stage
    {
        /// <summary>The caller's send (the benchmark's client, from its header).</summary>
        ClientSent,
        /// <summary>Kestrel handed the request to the app (the outermost middleware).</summary>
        AppStart,
        /// <summary>The chat endpoint runs: routing, middleware, API-key authentication and authorization are done.</summary>
        Endpoint,
        /// <summary>The request body is read and parsed.</summary>
        BodyParsed,
        /// <summary>The gateway's stream starts (the writer's first step).</summary>
        GatewayStart,
        /// <summary>The tenant's settings snapshot and the alias are resolved.</summary>
        Resolved,
        /// <summary>Rate limits counted and the idempotency claim (if any) made.</summary>
        Admitted,
        /// <summary>The budget reservation is held.</summary>
        Reserved,
        /// <summary>The caches looked up (a miss): the pipeline's steps before the provider are done.</summary>
        Prepared,
        /// <summary>The attempt's credentials are known and its timeout set.</summary>
        AttemptStart,
        /// <summary>The provider's request is built and handed to HttpClient.</summary>
        UpstreamSend,
        /// <summary>The provider's response headers are in.</summary>
        UpstreamHeaders,
        /// <summary>The provider's first SSE event is read.</summary>
        UpstreamFirstEvent,
        /// <summary>The first text delta is parsed and passed the chain (the attempt's first token).</summary>
        ChainFirstToken,
        /// <summary>The writer has set the response's status and headers (they leave with the first token's write).</summary>
        ResponseStarted,
        /// <summary>The role chunk and the first token are in the response's pipe.</summary>
        FirstTokenWritten,
        /// <summary>The first token's flush returned (the send is queued or done).</summary>
        FirstTokenFlushed,
    }

    public static readonly int Count = Enum.GetValues<Stage>().Length;

    private static volatile bool s_enabled;
    private static readonly AsyncLocal<long[]?> s_current = new();

    /// <summary>Turns the profile on for this process (the benchmark's serve mode only).</summary>
    public static void Enable() => s_enabled = true;

    /// <summary>Starts a profile for the request running in this async flow; its stages are filled as they pass.</summary>
    public static long[] Begin()
    {
        var stages = new long[Count];
        s_current.Value = stages;
        return stages;
    }

    /// <summary>Records <paramref name="stage"/>'s first pass in the current profile, if a profile runs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Mark(Stage stage)
    {
        if (s_enabled)
        {
            MarkSlow(stage);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MarkSlow(Stage stage)
    {
        if (s_current.Value is { } stages && stages[(int)stage] == 0)
        {
            stages[(int)stage] = Stopwatch.GetTimestamp();
        }
    }
}
