namespace Keystone.Testing.Upstreams;

/// <summary>One scripted answer of the mock upstream.</summary>
public abstract record MockReply
{
    /// <summary>Wait before sending the status line and headers.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Extra response headers (<c>Retry-After</c>, <c>retry-after-ms</c>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>A JSON (or any text) body with a status code.</summary>
    public static MockReply Json(int status, string body) => new JsonReply(status, body);

    /// <summary>
    /// A <c>text/event-stream</c> body. Each item is one event's raw text without the trailing blank line
    /// (e.g. <c>data: {...}</c> or <c>event: ping\ndata: {...}</c>). With <paramref name="cutAfter"/>, the body ends after
    /// that many events, without the rest (a stream cut short; use <see cref="Reset"/> for a connection reset).
    /// </summary>
    public static MockReply Sse(IEnumerable<string> events, TimeSpan? betweenEvents = null, int? cutAfter = null)
        => new SseReply([.. events], betweenEvents ?? TimeSpan.Zero, cutAfter);

    /// <summary>Never answers (until the client goes away): for timeouts and cancellation.</summary>
    public static MockReply Hang() => new HangReply();

    /// <summary>Accepts the request and closes the connection without any response.</summary>
    public static MockReply Reset() => new ResetReply();

    /// <summary>Adds a response header.</summary>
    public MockReply WithHeader(string name, string value)
        => this with { Headers = new Dictionary<string, string>(Headers) { [name] = value } };
}

internal sealed record JsonReply(int Status, string Body) : MockReply;

internal sealed record SseReply(IReadOnlyList<string> Events, TimeSpan BetweenEvents, int? CutAfter) : MockReply;

internal sealed record HangReply : MockReply;

internal sealed record ResetReply : MockReply;
