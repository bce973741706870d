using Keystone.Data.Calls;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>A call and its trace with every column set to a value that is not its default: the row writers' equality tests.</summary>
internal static class RecordedRows
{
    public static LlmCall Call(Guid id, Guid tenant) => new()
    {
        Id = id, TraceId = Guid.Parse("0194f0c2-7a1b-7c3d-8e4f-a1b2c3d4e5f6"), TenantId = tenant, UserId = "user-1", EndUser = "end-9",
        ApiKeyId = Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff"), Feature = "support.bot", RequestId = "req-1", PromptName = "triage",
        PromptVersionId = Guid.Parse("c0ffee00-0000-4000-8000-000000000001"), Alias = "smart", Provider = "openai", Model = "gpt-4.1",
        Streamed = true, InputTokens = 1234, OutputTokens = 56, CachedInputTokens = 1024, CacheWriteTokens = 7, CacheWrite1hTokens = 3,
        ReasoningTokens = 11, CostMicros = 98_765, CostStatus = CostStatus.Estimated, BilledTo = BilledTo.TenantKey,
        CacheStatus = CacheStatus.Exact, SavedCostMicros = 4_321, Attempts = 2, FellBack = true, Status = CallStatus.Incomplete,
        ErrorCode = "stream_interrupted", LatencyMs = 1_500, TtftMs = 230, ReplayOfCallId = Guid.Parse("11111111-2222-4333-8444-555555555555"),
        CreatedUtc = new DateTime(2026, 11, 23, 1, 2, 3, 456, DateTimeKind.Utc).AddTicks(7_891),
    };

    public static LlmTrace Trace(Guid callId, Guid tenant) => new()
    {
        CallId = callId, TenantId = tenant, RequestJson = "{\"messages\":[{\"role\":\"user\",\"content\":\"hello [REDACTED_EMAIL]\"}]}", ResponseJson = "{\"text\":\"é 東京\"}",
        RawRequestJson = "{\"raw\":1}", RawResponseJson = null, AttemptsJson = "[]", SearchText = "user: hello [REDACTED_EMAIL]",
        RedactionCount = 1, CreatedUtc = new DateTime(2026, 11, 23, 1, 2, 3, DateTimeKind.Utc),
    };
}
