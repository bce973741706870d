using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Platform.Http;

/// <summary>The <c>Api</c> configuration section: limits of the HTTP API.</summary>
internal sealed class ApiOptions
{
    public const string SectionName = "Api";

    /// <summary>Largest request body accepted under <c>/v1</c> and <c>/api/v1</c>; larger ones get 413. Default 4 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>While a stream's first event is slow, an SSE comment is sent this often to keep proxies from timing out. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan StreamKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Most requests in flight at once on the model-calling routes (<c>POST /v1/chat/completions</c>,
    /// <c>/v1/embeddings</c>, <c>/v1/prompts/{name}/completions</c>; a stream holds its slot until it ends); beyond it
    /// a request is answered 503 <c>server_overloaded</c> with <c>Retry-After: 1</c> at once, before its body is read.
    /// Default 1,000: far above what one instance needs in steady state (Little's law: 1,000 in flight is 200 req/s
    /// of 5-second answers, or 50,000 req/s against the benchmark's 20 ms mock), yet it bounds a provider stall to
    /// about 2,000 sockets (one from the caller, one to the provider per call) where an unbounded pile-up reached
    /// 14,000 and took the benchmark's process down (<c>docs/benchmarks.md</c>).
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxConcurrentRequests { get; set; } = 1_000;

    /// <summary>
    /// How long <c>POST /api/v1/feedback</c> keeps looking for a trace id it cannot find before answering 404. With
    /// several instances the call's row may still be in another instance's recorder, which commits it within its
    /// batch linger (normally well under a second). Default 2 s; 0 answers 404 at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan FeedbackGracePeriod { get; set; } = TimeSpan.FromSeconds(2);
}
