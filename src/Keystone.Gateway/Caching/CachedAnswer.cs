namespace Keystone.Gateway.Caching;

/// <summary>An answer as the caches store it.</summary>
internal sealed record CachedAnswer(string Text, IReadOnlyList<ToolCall> ToolCalls, string FinishReason, Usage Usage);
