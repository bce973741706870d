using System.Text.Json.Serialization;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// An eval set as listed: its owner (global or a tenant), how many examples it holds, and what it evaluates (a prompt, or a
/// feature's calls); a feature's set also the alias it is run on nightly (null: not run nightly) and since when.
/// </summary>
internal sealed record EvalSetRow(Guid Id, string Name, string? PromptName, Guid? TenantId, string Owner, int Examples, string? Description, string? Feature = null,
    string? NightlyAlias = null, DateTime? NightlyAliasSinceUtc = null);

/// <summary>One chat message of an example's input.</summary>
internal sealed record EvalMessage(string Role, string Content);

/// <summary>
/// One scorer of an example. <see cref="Kind"/> is one of <see cref="EvalExpectation.Kinds"/>; <see cref="Value"/> is the
/// text, pattern, schema or rubric it checks with; <see cref="Threshold"/> is the pass mark of a graded scorer (0..1);
/// <see cref="Alias"/> the judge's model alias.
/// </summary>
internal sealed record EvalExpectation(string Kind, string? Value = null, double? Threshold = null, string? Alias = null)
{
    public const string Contains = "contains";
    public const string NotContains = "not_contains";
    public const string Exact = "exact";
    public const string Regex = "regex";
    public const string JsonSchema = "json_schema";
    public const string Similarity = "similarity";
    public const string Judge = "judge";

    public static readonly IReadOnlyList<string> Kinds = [Contains, NotContains, Exact, Regex, JsonSchema, Similarity, Judge];
}

/// <summary>The editable content of an example: variables (for a managed prompt) or messages, the reference answer and the scorers.</summary>
internal sealed record EvalExampleInput(
    IReadOnlyDictionary<string, string>? Variables,
    IReadOnlyList<EvalMessage>? Messages,
    string? Expected,
    IReadOnlyList<EvalExpectation>? Expectations,
    string? Notes);

/// <summary>An example as shown and edited in the console.</summary>
internal sealed record EvalExampleRow(Guid Id, Guid Version, EvalExampleInput Input, Guid? SourceCallId, string CreatedBy, DateTime CreatedUtc);

/// <summary>The stored shape of an example's input (<c>InputJson</c>), shared with the traces' "save as eval example".</summary>
internal sealed record EvalInputJson(
    [property: JsonPropertyName("variables")] Dictionary<string, string>? Variables,
    [property: JsonPropertyName("messages")] List<EvalMessage>? Messages);

/// <summary>One line of a JSONL import that was refused, and why (1-based line number).</summary>
internal sealed record EvalImportError(int Line, string Message);

/// <summary>
/// The outcome of a JSONL import. Either every line was valid and <see cref="Imported"/> examples were added, or
/// nothing was added and <see cref="Errors"/> names each bad line: a file fixed and imported again then holds no twins.
/// </summary>
internal sealed record EvalImportResult(int Imported, IReadOnlyList<EvalImportError> Errors);
