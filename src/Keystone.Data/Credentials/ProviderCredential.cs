namespace Keystone.Data.Credentials;

/// <summary>
/// A tenant's own provider key (BYOK), encrypted with ASP.NET Core Data Protection. Only the last four
/// characters are kept in clear, to show people which key is set.
/// </summary>
public sealed class ProviderCredential : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The configured provider name (<c>openai</c>).</summary>
    public string Provider { get; set; } = "";

    /// <summary>The protected secret (Data Protection payload).</summary>
    public string ProtectedSecret { get; set; } = "";

    /// <summary>Last four characters of the key, for display.</summary>
    public string Last4 { get; set; } = "";

    /// <summary>An alternative base URL (Azure deployment, a tenant's own endpoint).</summary>
    public string? BaseUrl { get; set; }

    public DateTime CreatedUtc { get; set; }

    /// <summary>When the key was last tried against its provider (on save or "Test again"); null before any check.</summary>
    public DateTime? CheckedUtc { get; set; }

    /// <summary>That check's result: <c>accepted</c>, <c>rejected</c> (a saved key the provider now refuses) or <c>unverified</c>.</summary>
    public string? CheckResult { get; set; }

    /// <summary>Why it was rejected or unverified, in words (never the key).</summary>
    public string? CheckReason { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
