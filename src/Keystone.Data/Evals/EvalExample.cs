namespace Keystone.Data.Evals;

/// <summary>
/// One example of a prompt's eval set: the input (messages or prompt variables) and the output it should
/// give. Saved from a trace by support ("save as eval example"), added, edited or imported (JSONL) in the console;
/// the evals feature runs them. Belongs to the <see cref="Evals.EvalSet"/> of the same owner and name.
/// </summary>
public sealed class EvalExample : ITenantFiltered
{
    public Guid Id { get; set; }

    /// <summary>The owning tenant; null for an example of a global (platform) set.</summary>
    public Guid? TenantId { get; set; }

    /// <summary>The eval set: the prompt's name, or <c>support</c> for calls made without a named prompt.</summary>
    public string EvalSet { get; set; } = "";

    public string? PromptName { get; set; }

    public Guid? PromptVersionId { get; set; }

    /// <summary>The recorded (redacted) request messages as JSON, or the prompt's variables when it had any.</summary>
    public string InputJson { get; set; } = "";

    /// <summary>The answer the call should give (the better of two answers, or an edited one).</summary>
    public string ExpectedOutput { get; set; } = "";

    /// <summary>
    /// The example's scorers as a JSON array (<c>[{"kind":"contains","value":"refund"}, ...]</c>); null means the
    /// set's default: similarity to <see cref="ExpectedOutput"/>.
    /// </summary>
    public string? ExpectationsJson { get; set; }

    /// <summary>Optimistic concurrency: two editors saving the same example, the second is told instead of overwriting.</summary>
    public Guid Version { get; set; }

    /// <summary>The call the example was taken from.</summary>
    public Guid? SourceCallId { get; set; }

    /// <summary>Why it was saved (free text from support).</summary>
    public string? Notes { get; set; }

    public string CreatedByUserId { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}
