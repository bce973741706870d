namespace Keystone.Data.Agents;

/// <summary>
/// An email the <c>send_email</c> tool sent in the embedded mode: written to this local sink (shown in the console)
/// instead of a mail server. Unique per idempotency key, so a resumed run never sends twice.
/// </summary>
public sealed class MailSinkMessage : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public string IdempotencyKey { get; set; } = "";

    public Guid? RunId { get; set; }

    public string To { get; set; } = "";

    public string Subject { get; set; } = "";

    public string Body { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}

/// <summary>An internal support ticket an agent opened (<c>create_support_ticket</c>).</summary>
public sealed class SupportTicket : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public string IdempotencyKey { get; set; } = "";

    public Guid? RunId { get; set; }

    public string Subject { get; set; } = "";

    public string Body { get; set; } = "";

    public string Priority { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    /// <summary>When a person undid the ticket (L2 "act with undo"); null while it stands.</summary>
    public DateTime? UndoneUtc { get; set; }

    /// <summary>Who undid it (a user id, or <c>api_key:&lt;id&gt;</c>).</summary>
    public string? UndoneBy { get; set; }
}

/// <summary>A credit an agent issued to a customer (<c>issue_credit</c>), micro-USD.</summary>
public sealed class CustomerCredit : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public string IdempotencyKey { get; set; } = "";

    public Guid? RunId { get; set; }

    public string Customer { get; set; } = "";

    public long AmountMicros { get; set; }

    public string Reason { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}
