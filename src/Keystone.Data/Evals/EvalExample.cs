namespace Keystone.Data.Evals;

/// <summary>
/// One example of a prompt's eval set: the input (messages or prompt variables) and the output it should
/// give. Saved from a trace by support ("save as eval example"); the evals feature runs them.
/// </summary>
public sealed class EvalExample : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The eval set: the prompt's name, or <c>support</c> for calls made without a named prompt.</summary>
    public string EvalSet { get; set; } = "";

    public string? PromptName { get; set; }

    public Guid? PromptVersionId { get; set; }

    /// <summary>The recorded (redacted) request messages as JSON, or the prompt's variables when it had any.</summary>
    public string InputJson { get; set; } = "";

    /// <summary>The answer the call should give (the better of two answers, or an edited one).</summary>
    public string ExpectedOutput { get; set; } = "";

    /// <summary>The call the example was taken from.</summary>
    public Guid? SourceCallId { get; set; }

    /// <summary>Why it was saved (free text from support).</summary>
    public string? Notes { get; set; }

    public string CreatedByUserId { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}
