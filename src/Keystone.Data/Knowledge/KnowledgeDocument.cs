namespace Keystone.Data.Knowledge;

/// <summary>
/// One uploaded document of a tenant's knowledge base. A document is known by its name within the tenant: uploading
/// the same name again changes it (only chunks whose text changed are embedded again).
/// </summary>
public sealed class KnowledgeDocument : ITenantOwned
{
    public const int NameMaxLength = 256;
    public const int TagsMaxLength = 512;

    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The file name it was uploaded as (unique per tenant).</summary>
    public string Name { get; set; } = "";

    /// <summary>The title found in the document (first heading, HTML title, PDF title), else the name.</summary>
    public string Title { get; set; } = "";

    /// <summary><c>markdown</c>, <c>text</c>, <c>html</c> or <c>pdf</c>.</summary>
    public string Kind { get; set; } = "";

    /// <summary>Tags as <c>|a|b|</c> (lower case), so one tag is matched with a LIKE on both databases.</summary>
    public string Tags { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of the uploaded bytes: the same upload twice changes nothing.</summary>
    public string ContentHash { get; set; } = "";

    public long SizeBytes { get; set; }

    public int ChunkCount { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
