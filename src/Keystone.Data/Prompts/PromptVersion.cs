namespace Keystone.Data.Prompts;

/// <summary>
/// One immutable version of a <see cref="Prompt"/>: numbered 1..n per prompt, never edited once written (a change
/// is a new version), so a recorded call's <c>prompt_version_id</c> always names the exact wording it used.
/// </summary>
public sealed class PromptVersion
{
    public Guid Id { get; set; }

    public Guid PromptId { get; set; }

    /// <summary>1 for the first version of the prompt, then +1 per new version.</summary>
    public int Number { get; set; }

    /// <summary>System message template with <c>{{variable}}</c> placeholders (empty: no system message).</summary>
    public string SystemTemplate { get; set; } = "";

    /// <summary>User message template with <c>{{variable}}</c> placeholders.</summary>
    public string UserTemplate { get; set; } = "";

    /// <summary>The model alias the prompt is written for (<c>smart</c>).</summary>
    public string ModelAlias { get; set; } = "";

    public double? Temperature { get; set; }

    public int? MaxTokens { get; set; }

    /// <summary>
    /// Optional JSON Schema (text) the answer must follow: sent as <c>response_format: json_schema</c>. Checked against
    /// the JSON Schema 2020-12 meta-schema when the version is saved; null when the answer is free text.
    /// </summary>
    public string? ResponseSchema { get; set; }

    /// <summary>What changed and why (the changelog line).</summary>
    public string? Note { get; set; }

    public string CreatedByUserId { get; set; } = "";

    /// <summary>Who wrote it, as shown (email or display name at the time).</summary>
    public string? CreatedByName { get; set; }

    public DateTime CreatedUtc { get; set; }
}
