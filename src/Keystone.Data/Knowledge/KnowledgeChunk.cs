namespace Keystone.Data.Knowledge;

/// <summary>
/// One retrievable piece of a document: about 500 tokens cut at a heading, paragraph or sentence boundary, with a
/// header naming the document and section (embedded and searched with the text, so a chunk keeps its context).
/// </summary>
public sealed class KnowledgeChunk : ITenantOwned
{
    public const int TextMaxLength = 16_000;
    public const int HeaderMaxLength = 1_024;
    public const int SectionMaxLength = 512;

    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid DocumentId { get; set; }

    /// <summary>0-based order of the chunk in its document.</summary>
    public int Position { get; set; }

    /// <summary>The heading path of the section (<c>Setup › Network</c>); empty before the first heading.</summary>
    public string Section { get; set; } = "";

    /// <summary><c>Document title › Section</c>: what a citation shows, and what the embedding sees before the text.</summary>
    public string Header { get; set; } = "";

    public string Text { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of header and text: an unchanged chunk keeps its embeddings on re-upload.</summary>
    public string ContentHash { get; set; } = "";

    public int TokenCount { get; set; }
}
