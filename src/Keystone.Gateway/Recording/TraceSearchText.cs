using System.Text;
using System.Text.Json;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// The redacted plain text a trace is searched by: every message but the system (and developer) ones as
/// "role: content" lines, then "assistant: " and the answer. Built from the request in memory where the database
/// indexes it on write (PostgreSQL's generated search column reads <see cref="LlmTrace.SearchText"/>), and from the
/// stored payloads where an index is built afterwards (SQLite's background indexer, <see cref="SqliteTraceIndex"/>).
/// </summary>
internal static class TraceSearchText
{
    /// <summary>The text of a request's messages and its answer (null when there was none), redacted.</summary>
    public static string Build(IEnumerable<ChatMessage>? messages, string? answer, bool answered)
    {
        var text = new StringBuilder();
        foreach (var m in messages ?? [])
        {
            Append(text, m.Role, m.Content);
        }

        if (answered)
        {
            text.Append("assistant: ").AppendLine(answer);
        }

        return Redactor.Redact(text.ToString()).Text;
    }

    /// <summary>
    /// The text SQLite's indexer would derive from this trace's stored payloads (<see cref="FromStored"/>, "" for none),
    /// computed by the recorder, which has them in memory (decision 0071). <paramref name="requestJson"/> and
    /// <paramref name="responseJson"/> are the redacted payloads as stored; <paramref name="redactions"/> is how many
    /// matches redacting them replaced. With none, the stored JSON is the serialized request and answer unchanged, and
    /// reading it back gives these very messages: the text is built from them, without parsing the JSON. Otherwise (and
    /// where JSON would not give a string back as it was: a message without a role, a lone surrogate, which the writer
    /// replaces) it is read from the redacted JSON in memory, exactly as the indexer reads it from the pack.
    /// </summary>
    public static string ForIndexer(IReadOnlyList<ChatMessage>? messages, string? answer, bool answered, string? requestJson, string? responseJson, int redactions)
    {
        if (redactions == 0 && RoundTrips(messages, answer))
        {
            return Build(messages, answer, answered);
        }

        return FromStored(requestJson, responseJson) ?? "";
    }

    private static bool RoundTrips(IReadOnlyList<ChatMessage>? messages, string? answer)
    {
        foreach (var m in messages ?? [])
        {
            // A null role is not a string in the JSON: FromStored skips the message, Build would not.
            if (m is null || m.Role is null || !IsWellFormed(m.Role) || !IsWellFormed(m.Content))
            {
                return false;
            }
        }

        return IsWellFormed(answer);
    }

    /// <summary>False for text with a lone surrogate: System.Text.Json writes it as U+FFFD, so it would not read back as it was.</summary>
    private static bool IsWellFormed(string? text)
    {
        if (text is null)
        {
            return true;
        }

        var span = text.AsSpan();
        // Most text has no surrogate at all (one vectorised scan); only text that has one is walked.
        for (var i = span.IndexOfAnyInRange('\uD800', '\uDFFF'); i >= 0 && i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= span.Length || !char.IsLowSurrogate(span[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The same text read back from a stored trace's payloads (compressed or plain JSON, as <see cref="TraceCompression"/>
    /// stores them). The payloads are the redacted ones; redacting the text again catches what JSON escaping hid from
    /// the first pass, so the index never holds more than the recorder's own text held. A payload that is not the
    /// recorder's JSON shape gives what could be read from it (often nothing): indexing never stops on one trace.
    /// </summary>
    public static string? FromStored(object? request, object? response)
    {
        var requestJson = AsText(request);
        var responseJson = AsText(response);
        if (requestJson is null && responseJson is null)
        {
            return null;
        }

        var text = new StringBuilder();
        if (Parse(requestJson) is { } req)
        {
            using (req)
            {
                if (req.RootElement.ValueKind == JsonValueKind.Object && req.RootElement.TryGetProperty("messages", out var messages)
                    && messages.ValueKind == JsonValueKind.Array)
                {
                    foreach (var m in messages.EnumerateArray())
                    {
                        if (m.ValueKind == JsonValueKind.Object && m.TryGetProperty("role", out var role) && role.ValueKind == JsonValueKind.String)
                        {
                            Append(text, role.GetString()!, m.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null);
                        }
                    }
                }
            }
        }

        if (responseJson is not null)
        {
            string? answer = null;
            if (Parse(responseJson) is { } resp)
            {
                using (resp)
                {
                    if (resp.RootElement.ValueKind == JsonValueKind.Object && resp.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
                    {
                        answer = t.GetString();
                    }
                }
            }

            text.Append("assistant: ").AppendLine(answer);
        }

        return Redactor.Redact(text.ToString()).Text;
    }

    private static void Append(StringBuilder text, string role, string? content)
    {
        // The system prompt is not searched: it is the same text on every call of a prompt or feature (find those calls
        // by their prompt or feature), and indexed again on every call it was most of the full-text index's bytes and
        // of its CPU (issue 26). The stored request keeps it.
        if (role is "system" or "developer")
        {
            return;
        }

        text.Append(role).Append(": ").AppendLine(content);
    }

    private static string? AsText(object? stored)
    {
        try
        {
            return stored switch
            {
                byte[] bytes => TraceCompression.Decompress(bytes),
                string s => s,
                _ => null,
            };
        }
        catch (Exception ex) when (ex is InvalidOperationException or InvalidDataException)
        {
            // A damaged compressed value (Brotli refuses it): the trace is indexed without it rather than stopping the indexer.
            return null;
        }
    }

    private static JsonDocument? Parse(string? json)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
