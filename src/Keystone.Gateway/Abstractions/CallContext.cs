using Keystone.Data.Calls;

namespace Keystone.Gateway;

/// <summary>
/// Who is calling and on whose behalf (pipeline step 1). Every call names a tenant; the gateway never
/// runs a call outside a tenant.
/// </summary>
public sealed record CallContext
{
    public required Guid TenantId { get; init; }

    /// <summary>Console user (playground, replay, prompt test run), if any.</summary>
    public string? UserId { get; init; }

    /// <summary>The tenant's end user (request body's <c>user</c>).</summary>
    public string? EndUser { get; init; }

    public Guid? ApiKeyId { get; init; }

    /// <summary>Feature label; <c>default</c> when the caller gives none.</summary>
    public string Feature { get; init; } = "default";

    public string RequestId { get; init; } = CallIds.NewHex();

    public string? PromptName { get; init; }

    public Guid? PromptVersionId { get; init; }

    /// <summary><see cref="BilledTo.Support"/> for support replays: not counted against the tenant's caps.</summary>
    public BilledTo? BilledToOverride { get; init; }

    /// <summary>For replays: the call being replayed.</summary>
    public Guid? ReplayOfCallId { get; init; }

    /// <summary>Returns the first result again for 24 h without a second provider call or charge.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Trace to attach the call to (agent runs); a new trace when null.</summary>
    public Guid? TraceId { get; init; }
}
