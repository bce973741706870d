using Keystone.Gateway.Routing;

namespace Keystone.Gateway.Pipeline;

// What the provider chain adds to the provider's own events. They travel in the same sequence as the provider's
// deltas, so a streamed token is passed on without being wrapped.

/// <summary>The first token of the answer is about to reach the caller, from <paramref name="Target"/>: no fallback from here on.</summary>
internal sealed record AnswerStarted(ModelTarget Target) : ProviderStreamEvent;

/// <summary>The answering target failed after tokens reached the caller: the answer ends here, incomplete.</summary>
internal sealed record AnswerInterrupted(ModelTarget Target, string Reason) : ProviderStreamEvent;

/// <summary>A whole answer of a non-streamed call (a chat completion or embeddings), as one event.</summary>
internal sealed record WholeAnswer<T>(T Answer) : ProviderStreamEvent;
