using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Keystone.Gateway.Providers.Simulated;

/// <summary>
/// Writes the simulated model's answers: deterministic for a given request (and drift), markdown-ish prose shaped by
/// the model (fast: short, smart: a list or code block now and then, reasoning: a worked answer), JSON that fills a
/// schema's properties, and schema-valid tool arguments.
/// </summary>
internal static class SimulatedAnswerWriter
{
    private static readonly string[] Openers =
    [
        "Here is a short answer about {0}.",
        "Good question about {0}.",
        "Sure: a quick take on {0}.",
        "Let's look at {0}.",
        "In short, {0} comes down to a few points.",
        "Happy to help with {0}.",
    ];

    private static readonly string[] Middles =
    [
        "The main thing to keep in mind is that small, steady steps beat one big change.",
        "Most teams start with the simplest version, measure it, and only then add complexity.",
        "It usually helps to write the goal down first, then check each option against it.",
        "The trade-off is between speed and cost, and the right balance depends on your volume.",
        "A good default is to keep it simple and revisit once you have real numbers.",
        "Keep an eye on edge cases: empty inputs, very long inputs and retries.",
        "If something looks off, compare against a known-good example before changing anything.",
        "Caching the stable parts and recomputing only what changed keeps it fast.",
    ];

    private static readonly string[] Closers =
    [
        "Let me know if you want more detail on any part.",
        "I hope that helps.",
        "Happy to go deeper on any of these.",
        "That should be enough to get started.",
    ];

    private static readonly string[] ListItems =
    [
        "Start with a clear, measurable goal",
        "Check the inputs before doing any work",
        "Keep the first version small",
        "Measure cost and latency from day one",
        "Write a test for the tricky case",
        "Review the result with a teammate",
        "Automate the boring part last",
    ];

    private static readonly HashSet<string> StopWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "the", "and", "for", "with", "that", "this", "what", "how", "why", "can", "you", "your", "are", "was", "have", "has",
        "about", "please", "tell", "give", "from", "into", "does", "should", "would", "could", "there", "their", "them",
        "when", "where", "which", "will", "just", "some", "more", "than", "then", "also", "like", "write", "explain", "sim", "our", "its", "who", "any", "all", "not",
        "summarize", "describe", "good", "new", "list", "show", "help", "need", "want", "query", "get", "make", "use", "per",
    };

    /// <summary>
    /// The topic the answer talks about: the phrase of the last user message that spans its most telling words
    /// ("the refund policy for annual plans" → "refund policy for annual plans").
    /// </summary>
    public static string Topic(IReadOnlyList<ChatMessage> messages)
    {
        var last = messages.LastOrDefault(m => m.Role == "user")?.Content ?? "";
        var raw = last.Split([' ', '\n', '\t', ',', '.', '?', '!', ':', ';', '"', '(', ')'], StringSplitOptions.RemoveEmptyEntries)
            .Where(w => !w.StartsWith("[sim:", StringComparison.Ordinal) && !w.EndsWith(']'))
            .Select(w => w.ToLowerInvariant())
            .ToList();
        bool Telling(string w) => w.Length >= 3 && !StopWords.Contains(w) && w.All(c => char.IsLetterOrDigit(c) || c == '-' || c == '\'');
        var picked = raw.Where(Telling).Distinct().OrderByDescending(w => w.Length).Take(3).ToHashSet();
        if (picked.Count == 0)
        {
            return "your request";
        }

        var first = raw.FindIndex(picked.Contains);
        var lastIndex = raw.FindLastIndex(picked.Contains);
        // Answer in the second person: "reset my password" → "reset your password".
        return string.Join(' ', raw.Skip(first).Take(Math.Min(lastIndex - first + 1, 6))
            .Select(w => w switch { "my" or "our" => "your", "i" or "me" or "we" or "us" => "you", _ => w }));
    }

    /// <summary>The <c>message</c> of a tool result shaped <c>{"error": …, "message": …}</c>; null for any other result.</summary>
    private static string? ToolRefusal(string? content)
    {
        if (string.IsNullOrWhiteSpace(content) || !content.TrimStart().StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(content);
            return doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && doc.RootElement.TryGetProperty("error", out _)
                && doc.RootElement.TryGetProperty("message", out var message) && message.ValueKind == System.Text.Json.JsonValueKind.String
                ? message.GetString()
                : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    public static string Prose(string model, IReadOnlyList<ChatMessage> messages, Random rng)
    {
        var topic = Topic(messages);
        var last = messages.LastOrDefault(m => m.Role == "user")?.Content ?? "";
        var sb = new StringBuilder();
        if (messages.Count > 0 && messages[^1].Role == "tool" && ToolRefusal(messages[^1].Content) is { } refusal)
        {
            // A tool result that is an error (a refusal, a rejected approval): a model tells the person it did not happen.
            return $"I could not do that: {refusal}";
        }

        if (messages.Count > 0 && messages[^1].Role == "tool")
        {
            sb.Append(CultureInfo.InvariantCulture, $"Thanks, I checked that with the tool. Based on the result, {Middles[rng.Next(Middles.Length)].ToLowerInvariant()}");
            sb.Append(' ').Append(Closers[rng.Next(Closers.Length)]);
            return sb.ToString();
        }

        var isReasoning = model.Contains("reason", StringComparison.OrdinalIgnoreCase);
        var isFast = model.Contains("fast", StringComparison.OrdinalIgnoreCase);
        sb.Append(string.Format(CultureInfo.InvariantCulture, Openers[rng.Next(Openers.Length)], topic));
        var sentences = isFast ? 1 : 1 + rng.Next(isReasoning ? 3 : 2);
        for (var i = 0; i < sentences; i++)
        {
            sb.Append(' ').Append(Middles[rng.Next(Middles.Length)]);
        }

        var wantsSql = last.Contains("sql", StringComparison.OrdinalIgnoreCase) || last.Contains("query", StringComparison.OrdinalIgnoreCase);
        var wantsCode = wantsSql || last.Contains("code", StringComparison.OrdinalIgnoreCase) || last.Contains("function", StringComparison.OrdinalIgnoreCase)
            || last.Contains("example", StringComparison.OrdinalIgnoreCase) || last.Contains("c#", StringComparison.OrdinalIgnoreCase);

        // Mostly prose; a list now and then; code only when asked for (or rarely, as real models do).
        var roll = rng.Next(8);
        var shape = wantsCode ? 2 : roll switch { 0 or 1 or 2 when !isFast => 1, 0 when isFast => 1, 7 when !isFast => 2, _ => 0 };
        if (isReasoning)
        {
            sb.Append("\n\n**Reasoning.** ");
            sb.Append(CultureInfo.InvariantCulture, $"First I looked at what {topic} needs, then at the options, then at what could go wrong.");
        }

        if (shape == 1)
        {
            sb.Append("\n\n");
            var items = ListItems.OrderBy(_ => rng.Next()).Take(3).ToList();
            for (var i = 0; i < items.Count; i++)
            {
                sb.Append(isReasoning ? $"{i + 1}. " : "- ").Append(items[i]).Append('\n');
            }

            sb.Length--;
        }
        else if (shape == 2 && wantsSql)
        {
            var column = topic.Split(' ')[0].Replace('-', '_');
            sb.Append("\n\n```sql\n");
            sb.Append(CultureInfo.InvariantCulture, $"SELECT customer_id, date_trunc('month', created_at) AS month, sum(amount) AS {column}\nFROM orders\nGROUP BY customer_id, month\nORDER BY month DESC;\n");
            sb.Append("```");
        }
        else if (shape == 2)
        {
            var name = string.Concat(topic.Split(' ', '-').Where(w => w.Length > 0 && char.IsLetter(w[0]))
                .Select(w => char.ToUpperInvariant(w[0]) + new string(w[1..].Where(char.IsLetterOrDigit).ToArray())));
            name = name.Length == 0 ? "Answer" : name;
            sb.Append("\n\n```csharp\n");
            sb.Append(CultureInfo.InvariantCulture, $"public static string {name}(string input)\n{{\n    ArgumentException.ThrowIfNullOrWhiteSpace(input);\n    return input.Trim();\n}}\n");
            sb.Append("```");
        }

        sb.Append("\n\n").Append(Closers[rng.Next(Closers.Length)]);
        return sb.ToString();
    }

    /// <summary>A JSON value for a schema: objects get every required property (and the others), enums their first value.</summary>
    public static string JsonFor(JsonElement? schema, string topic, Random rng)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            if (schema is { ValueKind: JsonValueKind.Object } s)
            {
                WriteValue(w, s, "answer", topic, rng, depth: 0);
            }
            else
            {
                w.WriteStartObject();
                w.WriteString("answer", $"A short answer about {topic}.");
                w.WriteEndObject();
            }
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteValue(Utf8JsonWriter w, JsonElement schema, string propertyName, string topic, Random rng, int depth)
    {
        if (schema.TryGetProperty("enum", out var options) && options.ValueKind == JsonValueKind.Array && options.GetArrayLength() > 0)
        {
            options[rng.Next(options.GetArrayLength())].WriteTo(w);
            return;
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            constant.WriteTo(w);
            return;
        }

        var type = TypeOf(schema);
        switch (type)
        {
            case "object" when depth < 6:
            {
                w.WriteStartObject();
                if (schema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in properties.EnumerateObject())
                    {
                        w.WritePropertyName(p.Name);
                        WriteValue(w, p.Value, p.Name, topic, rng, depth + 1);
                    }
                }

                w.WriteEndObject();
                break;
            }

            case "array" when depth < 6:
            {
                w.WriteStartArray();
                var count = schema.TryGetProperty("minItems", out var min) && min.ValueKind == JsonValueKind.Number ? Math.Max(1, min.GetInt32()) : 2;
                var items = schema.TryGetProperty("items", out var i) && i.ValueKind == JsonValueKind.Object ? i : default;
                for (var k = 0; k < count; k++)
                {
                    if (items.ValueKind == JsonValueKind.Object)
                    {
                        WriteValue(w, items, propertyName, topic, rng, depth + 1);
                    }
                    else
                    {
                        w.WriteStringValue($"{topic} {k + 1}");
                    }
                }

                w.WriteEndArray();
                break;
            }

            case "integer":
                w.WriteNumberValue(Bounded(schema, 1 + rng.Next(9)));
                break;
            case "number":
                w.WriteNumberValue(Math.Round(Bounded(schema, 1 + rng.Next(9)) + rng.NextDouble(), 2));
                break;
            case "boolean":
                w.WriteBooleanValue(rng.Next(2) == 0);
                break;
            case "null":
                w.WriteNullValue();
                break;
            default:
                w.WriteStringValue(StringFor(propertyName, schema, topic, rng));
                break;
        }
    }

    private static string TypeOf(JsonElement schema)
    {
        if (!schema.TryGetProperty("type", out var t))
        {
            return schema.TryGetProperty("properties", out _) ? "object" : "string";
        }

        if (t.ValueKind == JsonValueKind.String)
        {
            return t.GetString() ?? "string";
        }

        // ["string", "null"]: take the first non-null type.
        return t.ValueKind == JsonValueKind.Array
            ? t.EnumerateArray().Select(x => x.GetString()).FirstOrDefault(x => x is not null and not "null") ?? "null"
            : "string";
    }

    private static int Bounded(JsonElement schema, int value)
    {
        var min = schema.TryGetProperty("minimum", out var a) && a.ValueKind == JsonValueKind.Number ? (int)Math.Ceiling(a.GetDouble()) : int.MinValue;
        var max = schema.TryGetProperty("maximum", out var b) && b.ValueKind == JsonValueKind.Number ? (int)Math.Floor(b.GetDouble()) : int.MaxValue;
        return Math.Clamp(value, min, Math.Max(min, max));
    }

    private static string StringFor(string propertyName, JsonElement schema, string topic, Random rng)
    {
        var format = schema.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        var name = propertyName.ToLowerInvariant();
        return format switch
        {
            "date-time" => "2026-01-15T09:30:00Z",
            "date" => "2026-01-15",
            "email" => "someone@example.com",
            "uri" or "url" => "https://example.com/" + Uri.EscapeDataString(topic.Replace(' ', '-')),
            _ when name.Contains("city", StringComparison.Ordinal) || name.Contains("location", StringComparison.Ordinal) => "Paris",
            _ when name.Contains("email", StringComparison.Ordinal) => "someone@example.com",
            _ when name.Contains("name", StringComparison.Ordinal) || name.Contains("title", StringComparison.Ordinal)
                => CultureInfo.InvariantCulture.TextInfo.ToTitleCase(topic),
            _ when name.Contains("query", StringComparison.Ordinal) || name.Contains("topic", StringComparison.Ordinal) => topic,
            _ when name.Contains("id", StringComparison.Ordinal) => "id-" + rng.Next(1000, 9999).ToString(CultureInfo.InvariantCulture),
            _ => $"A short note about {topic}.",
        };
    }
}
