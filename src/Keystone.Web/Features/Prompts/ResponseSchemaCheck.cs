using System.Globalization;
using System.Text.Json;
using Json.Schema;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// Checks a prompt version's response schema when it is saved: well-formed JSON, an object schema (providers'
/// structured output wants an object at the root), and valid against the JSON Schema 2020-12 meta-schema
/// (JsonSchema.Net), so a typo such as <c>"type": "strng"</c> is refused with where it is, not found by the first caller.
/// </summary>
internal static class ResponseSchemaCheck
{
    /// <summary>Longest schema accepted (characters).</summary>
    public const int MaxLength = 32_000;

    /// <summary>The form's message for <paramref name="schema"/>, or null when it is valid (or blank: no schema).</summary>
    public static string? Validate(string? schema)
    {
        if (string.IsNullOrWhiteSpace(schema))
        {
            return null;
        }

        if (schema.Length > MaxLength)
        {
            return $"The response schema may have at most {MaxLength.ToString("N0", CultureInfo.InvariantCulture)} characters.";
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(schema);
        }
        catch (JsonException ex)
        {
            return $"The response schema is not valid JSON (line {(ex.LineNumber ?? 0) + 1}): {FirstSentence(ex.Message)}";
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return "The response schema must be a JSON object (for example {\"type\": \"object\", \"properties\": {…}}).";
            }

            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "object")
            {
                return "The response schema must describe an object: its root needs \"type\": \"object\" (providers' structured output answers with an object).";
            }

            var results = MetaSchemas.Draft202012.Evaluate(root, new EvaluationOptions { OutputFormat = OutputFormat.List });
            if (results.IsValid)
            {
                return null;
            }

            // The deepest failing place is the one to name ("the type at /properties/answer"), not the root's anyOf.
            var first = Flatten(results).Where(d => d.Errors is { Count: > 0 })
                .MaxBy(d => d.InstanceLocation.ToString().Length);
            if (first?.Errors is { Count: > 0 } errors)
            {
                var at = first.InstanceLocation.ToString();
                return $"The response schema is not a valid JSON Schema at {(at.Length == 0 ? "its root" : at)}: {errors.Values.First()}";
            }

            return "The response schema is not a valid JSON Schema (2020-12).";
        }
    }

    /// <summary>The schema as the gateway request's element (null when blank). Call only on text <see cref="Validate"/> accepted.</summary>
    public static JsonElement? Parse(string? schema)
    {
        if (string.IsNullOrWhiteSpace(schema))
        {
            return null;
        }

        using var doc = JsonDocument.Parse(schema);
        return doc.RootElement.Clone();
    }

    private static IEnumerable<EvaluationResults> Flatten(EvaluationResults results)
    {
        yield return results;
        foreach (var detail in results.Details ?? [])
        {
            foreach (var inner in Flatten(detail))
            {
                yield return inner;
            }
        }
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..(end + 1)];
    }
}
