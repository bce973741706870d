using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// A finished call on its way to storage: the call row, and the raw payloads the recorder redacts and stores
/// as the trace (off the request path).
/// </summary>
internal sealed record CallRecord(LlmCall Call, string? RawRequestJson, string? RawResponseJson, string? AttemptsJson, string SearchText);
