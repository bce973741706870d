using Keystone.Data.Calls;
using Keystone.Gateway.Caching;

namespace Keystone.Gateway.Recording;

/// <summary>
/// A finished call on its way to storage: the call row, and the request, answer and attempts the recorder
/// serializes, redacts and stores as the trace (off the request path).
/// </summary>
internal sealed record CallRecord(LlmCall Call, ChatRequest? Request, CachedAnswer? Answer, IReadOnlyList<Attempt> Attempts);
