using System.Diagnostics;
using Keystone.Data.Calls;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Routing;

namespace Keystone.Gateway.Pipeline;

/// <summary>Everything one call accumulates on its way through the pipeline (never shared between calls).</summary>
internal sealed class CallState(ChatRequest request, CallContext context, bool streamed, long startTimestamp, DateTime startUtc)
{
    public Guid CallId { get; } = CallIds.NewVersion7(startUtc);

    public Guid TraceId { get; } = context.TraceId ?? CallIds.NewVersion7(startUtc);

    public ChatRequest Request { get; } = request;

    public CallContext Context { get; } = context;

    public bool Streamed { get; } = streamed;

    public long StartTimestamp { get; } = startTimestamp;

    public DateTime StartUtc { get; } = startUtc;

    public TenantSnapshot? Snapshot { get; set; }

    /// <summary>The API key's request window once the call was counted against it.</summary>
    public RequestRateLimit? RateLimit { get; set; }

    public ResolvedModel? Resolved { get; set; }

    public int MaxTokens { get; set; }

    /// <summary>An embedding call (priced by input only; an unpriced model falls back to the embedding price).</summary>
    public bool IsEmbedding { get; set; }

    /// <summary>The stream was stopped because its output passed <see cref="MaxTokens"/>: it settles at most its reservation.</summary>
    public bool StoppedAtReservation { get; set; }

    /// <summary>Output tokens counted so far on a capped stream (the tokenizer's count of what was passed on).</summary>
    public int CountedOutputTokens { get; set; }

    public int? PromptTokens { get; set; }

    public BudgetReservation? Reservation { get; set; }

    public string? CacheKey { get; set; }

    /// <summary>
    /// Semantic cache, set by a lookup that missed so the answer can be stored: context key, question, its embedding and
    /// the model that made it (<c>provider/model</c>).
    /// </summary>
    public (string Key, string Question, float[] Vector, string EmbeddingModel)? Semantic { get; set; }

    /// <summary>The cache entry this call is answered from, if any (its source call, model and similarity).</summary>
    public Caching.CacheHit? CacheHit { get; set; }

    public List<Attempt> Attempts { get; } = [];

    public ModelTarget? Target { get; set; }

    public bool FellBack { get; set; }

    public BilledTo BilledTo { get; set; } = context.BilledToOverride ?? BilledTo.Platform;

    /// <summary>Ticks spent waiting on providers and on the caller (streams): not gateway overhead.</summary>
    public long ExternalTicks { get; set; }

    public int? TtftMs { get; set; }

    public Activity? Activity { get; set; }

    /// <summary>True once the call was settled and queued for recording (exactly once).</summary>
    public bool Recorded { get; set; }

    /// <summary>This call holds the in-flight claim on its idempotency key (settled by its success or failure).</summary>
    public bool IdempotencyClaimed { get; set; }
}
