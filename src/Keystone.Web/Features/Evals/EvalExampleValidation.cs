using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Checks an example before it is stored (console form, JSONL line, trace): it must have an input, each scorer must be
/// usable (a pattern that compiles, a schema that builds, a threshold between 0 and 1, a rubric), and it must be
/// possible to score it at all. The message says what to fix.
/// </summary>
internal static class EvalExampleValidation
{
    public const int MaxTextLength = 64_000;
    public const int MaxMessages = 200;
    public const int MaxExpectations = 20;

    /// <summary>How long one regex scorer may run on an answer before it counts as failed.</summary>
    public static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(1);

    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "user", "assistant" };

    /// <summary>Null when the example can be stored; otherwise what is wrong.</summary>
    public static string? Validate(EvalExampleInput input)
    {
        var hasVariables = input.Variables is { Count: > 0 };
        var hasMessages = input.Messages is { Count: > 0 };
        if (!hasVariables && !hasMessages)
        {
            return "Give the example its input: \"variables\" (for a managed prompt) or \"messages\".";
        }

        if (input.Messages is { Count: > MaxMessages })
        {
            return $"An example may have at most {MaxMessages} messages.";
        }

        foreach (var (m, i) in (input.Messages ?? []).Select((m, i) => (m, i)))
        {
            if (m is null || !Roles.Contains(m.Role ?? ""))
            {
                return $"Message {i + 1} needs a role of system, user or assistant.";
            }

            if (string.IsNullOrEmpty(m.Content) || m.Content.Length > MaxTextLength)
            {
                return $"Message {i + 1} needs content of at most {MaxTextLength.ToString("N0", CultureInfo.InvariantCulture)} characters.";
            }
        }

        foreach (var (name, value) in input.Variables ?? new Dictionary<string, string>())
        {
            if (string.IsNullOrWhiteSpace(name) || value is null || value.Length > MaxTextLength)
            {
                return $"Variable \"{name}\" needs a name and a value of at most {MaxTextLength.ToString("N0", CultureInfo.InvariantCulture)} characters.";
            }
        }

        if (input.Expected is { Length: > MaxTextLength })
        {
            return $"The expected answer is longer than {MaxTextLength.ToString("N0", CultureInfo.InvariantCulture)} characters.";
        }

        if (input.Notes is { Length: > 2000 })
        {
            return "Notes may have at most 2,000 characters.";
        }

        var expectations = input.Expectations ?? [];
        if (expectations.Count > MaxExpectations)
        {
            return $"An example may have at most {MaxExpectations} scorers.";
        }

        if (expectations.Count == 0 && string.IsNullOrWhiteSpace(input.Expected))
        {
            return "Give the example an expected answer or at least one scorer, or nothing can score it.";
        }

        foreach (var (e, i) in expectations.Select((e, i) => (e, i)))
        {
            if (ValidateExpectation(e, input.Expected) is { } error)
            {
                return $"Scorer {i + 1}: {error}";
            }
        }

        return null;
    }

    private static string? ValidateExpectation(EvalExpectation? e, string? expected)
    {
        if (e is null || !EvalExpectation.Kinds.Contains(e.Kind ?? ""))
        {
            return $"the kind must be one of {string.Join(", ", EvalExpectation.Kinds)}.";
        }

        if (e.Threshold is { } t && (double.IsNaN(t) || t < 0 || t > 1))
        {
            return "the threshold must be between 0 and 1.";
        }

        if (e.Value is { Length: > 32_000 })
        {
            return "the value may have at most 32,000 characters.";
        }

        switch (e.Kind)
        {
            case EvalExpectation.Contains or EvalExpectation.NotContains or EvalExpectation.Exact when string.IsNullOrEmpty(e.Value):
                return "give the text to look for.";
            case EvalExpectation.Regex:
                if (string.IsNullOrEmpty(e.Value))
                {
                    return "give the pattern.";
                }

                try
                {
                    _ = new Regex(e.Value, RegexOptions.None, RegexTimeout);
                }
                catch (ArgumentException ex)
                {
                    return $"the pattern does not compile: {ex.Message}";
                }

                return null;
            case EvalExpectation.JsonSchema:
                return BuildSchema(e.Value, out _);
            case EvalExpectation.Similarity when string.IsNullOrWhiteSpace(e.Value) && string.IsNullOrWhiteSpace(expected):
                return "similarity compares with a reference answer: give one (the example's expected answer or this scorer's value).";
            case EvalExpectation.Judge when string.IsNullOrWhiteSpace(e.Value):
                return "give the judge its rubric (what a good answer does).";
            default:
                return null;
        }
    }

    /// <summary>Builds a JSON schema; null when it built, otherwise why not.</summary>
    public static string? BuildSchema(string? text, out JsonSchema? schema)
    {
        schema = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return "give the JSON schema the answer must match.";
        }

        try
        {
            // Each schema gets its own registry and base address: two examples' schemas with the same $id never collide.
            schema = JsonSchema.FromText(text, new BuildOptions(), new Uri($"https://keystone.invalid/eval/{Guid.NewGuid():N}"));
            return null;
        }
        catch (Exception ex) when (ex is JsonException or JsonSchemaException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            return $"the JSON schema is not valid: {ex.Message}";
        }
    }
}
