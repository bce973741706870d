namespace Keystone.Data.Feedback;

/// <summary>
/// A thumbs up or down (and an optional comment) for one trace: sent by a tenant's product through
/// <c>POST /api/v1/feedback</c>, or given by a console user in the playground; the traces feature shows it
/// next to the call.
/// </summary>
public sealed class CallFeedback : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The trace the feedback is about (<c>X-Keystone-Trace-Id</c>).</summary>
    public Guid TraceId { get; set; }

    /// <summary><c>+1</c> (up) or <c>-1</c> (down).</summary>
    public int Score { get; set; }

    /// <summary>Free text from the end user, if any.</summary>
    public string? Comment { get; set; }

    /// <summary>The API key that sent it, if any.</summary>
    public Guid? ApiKeyId { get; set; }

    /// <summary>The tenant's end user who gave it, if the caller said.</summary>
    public string? EndUser { get; set; }

    /// <summary>The console user (Identity id) who gave it in the playground; null for the API.</summary>
    public string? UserId { get; set; }

    public DateTime CreatedUtc { get; set; }
}
