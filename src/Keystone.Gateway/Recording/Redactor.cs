using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Removes personal data and secrets from what is stored in the redacted trace: API-key-shaped strings
/// (<c>sk-…</c>, <c>sk-ant-…</c>, <c>ks_…</c>), e-mail addresses, card numbers (13–19 digits passing Luhn) and
/// phone numbers (9–15 digits in a phone-like grouping). The raw payload is kept separately for a short time.
/// </summary>
public static partial class Redactor
{
    public const string ApiKeyToken = "[REDACTED_KEY]";
    public const string EmailToken = "[REDACTED_EMAIL]";
    public const string CardToken = "[REDACTED_CARD]";
    public const string PhoneToken = "[REDACTED_PHONE]";

    /// <summary>The text with every match replaced, and how many were replaced.</summary>
    public static (string Text, int Count) Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return (text ?? "", 0);
        }

        // Every call's trace goes through here three times on the recorder's thread, and most text holds nothing
        // to redact: each pattern runs only when the text has what a match needs (the key prefixes, an '@', nine
        // ASCII digits — fewer cannot make a card or a phone number that passes the checks below).
        var count = 0;
        var result = text;
        if (result.Contains("sk-", StringComparison.Ordinal) || result.Contains("ks_", StringComparison.Ordinal))
        {
            result = ApiKey().Replace(result, _ => { count++; return ApiKeyToken; });
        }

        if (result.Contains('@'))
        {
            result = Email().Replace(result, _ => { count++; return EmailToken; });
        }

        if (!HasAtLeastAsciiDigits(result, 9))
        {
            return (result, count);
        }

        result = Card().Replace(result, m =>
        {
            if (!PassesLuhn(m.Value))
            {
                return m.Value;
            }

            count++;
            return CardToken;
        });
        result = Phone().Replace(result, m =>
        {
            var digits = m.Value.Count(char.IsAsciiDigit);
            if (digits is < 9 or > 15)
            {
                return m.Value;
            }

            count++;
            return PhoneToken;
        });
        return (result, count);
    }

    /// <summary>
    /// <paramref name="json"/> with every string value in it redacted (<see cref="Redact"/>), and how many were replaced.
    /// The strings, not the serialized text: escapes hide or join what the patterns look for (an address after an escaped
    /// quote, <c>\u0022ops@example.com</c>, was matched with the escape's tail and left <c>\[REDACTED_EMAIL]</c>, which
    /// is not JSON; one after an escaped newline, <c>\nbob@…</c>, likewise), and a match must never end inside an
    /// escape. Written back with the serializer's own escaping, so JSON with nothing to redact is returned as it was
    /// (the same string). Property names are kept: they are the request's shape, not its content.
    /// </summary>
    public static (string Json, int Count) RedactJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return (json ?? "", 0);
        }

        // Most traces hold nothing to redact: Redact's pre-checks on the whole text skip the rewrite. '@' and the key
        // prefixes are never escaped and rare in prose; digits are common (a prompt's rule numbers, a request id, the
        // escapes' hex), so the rewrite runs only when one string value has nine.
        if (!json.Contains("sk-", StringComparison.Ordinal) && !json.Contains("ks_", StringComparison.Ordinal) && !json.Contains('@')
            && !AnyStringHasNineDigits(json))
        {
            return (json, 0);
        }

        var utf8 = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        var output = new ArrayBufferWriter<byte>(utf8.Length + 64);
        var count = 0;
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true }))
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        writer.WriteStartObject();
                        break;
                    case JsonTokenType.EndObject:
                        writer.WriteEndObject();
                        break;
                    case JsonTokenType.StartArray:
                        writer.WriteStartArray();
                        break;
                    case JsonTokenType.EndArray:
                        writer.WriteEndArray();
                        break;
                    case JsonTokenType.PropertyName:
                        writer.WritePropertyName(reader.GetString()!);
                        break;
                    case JsonTokenType.String:
                        var (text, n) = Redact(reader.GetString());
                        count += n;
                        writer.WriteStringValue(text);
                        break;
                    case JsonTokenType.Number:
                        writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                        break;
                    case JsonTokenType.True:
                        writer.WriteBooleanValue(true);
                        break;
                    case JsonTokenType.False:
                        writer.WriteBooleanValue(false);
                        break;
                    case JsonTokenType.Null:
                        writer.WriteNullValue();
                        break;
                }
            }
        }

        // Nothing replaced: the input as it was (not a re-encoding of it).
        return count == 0 ? (json, 0) : (Encoding.UTF8.GetString(output.WrittenSpan), count);
    }

    /// <summary>
    /// Whether some string value of the JSON holds nine digits, read on the serialized text without parsing it: the digits
    /// of numbers are not counted (a card or a phone number is only ever in a string), nor the hex digits of escapes — the
    /// writer escapes every apostrophe, quote, '&amp;', '+' and '&lt;' as <c>\u00XX</c>, which would otherwise make
    /// ordinary prose look like a number (the realistic system prompt's apostrophes alone did, and every such call paid a
    /// rewrite). An escaped digit (<c>\u0030</c>–<c>\u0039</c>) counts as one.
    /// </summary>
    private static bool AnyStringHasNineDigits(string json)
    {
        var span = json.AsSpan();
        var inString = false;
        var digits = 0;
        for (var i = span.IndexOfAny(JsonScan); i >= 0 && i < span.Length; )
        {
            var c = span[i];
            if (c == '"')
            {
                inString = !inString;
                digits = 0;
                i++;
            }
            else if (c == '\\')
            {
                // Only inside a string; \uXXXX is one character, any other escape two (\n, \", \\).
                if (i + 5 < span.Length && span[i + 1] == 'u')
                {
                    if (span.Slice(i + 2, 3).SequenceEqual("003") && char.IsAsciiDigit(span[i + 5]) && ++digits >= 9)
                    {
                        return true;
                    }

                    i += 6;
                }
                else
                {
                    i += 2;
                }
            }
            else
            {
                if (inString && ++digits >= 9)
                {
                    return true;
                }

                i++;
            }

            if (i >= span.Length)
            {
                break;
            }

            var next = span[i..].IndexOfAny(JsonScan);
            i = next < 0 ? -1 : i + next;
        }

        return false;
    }

    private static readonly SearchValues<char> JsonScan = SearchValues.Create("\"\\0123456789");

    private static bool HasAtLeastAsciiDigits(string text, int wanted)
    {
        var span = text.AsSpan();
        for (var i = span.IndexOfAnyInRange('0', '9'); i >= 0; )
        {
            if (--wanted == 0)
            {
                return true;
            }

            var next = span[(i + 1)..].IndexOfAnyInRange('0', '9');
            i = next < 0 ? -1 : i + 1 + next;
        }

        return false;
    }

    /// <summary>The Luhn checksum over the digits of <paramref name="candidate"/> (separators ignored).</summary>
    public static bool PassesLuhn(string candidate)
    {
        var sum = 0;
        var digits = 0;
        var doubleIt = false;
        for (var i = candidate.Length - 1; i >= 0; i--)
        {
            var c = candidate[i];
            if (!char.IsAsciiDigit(c))
            {
                continue;
            }

            var d = c - '0';
            if (doubleIt)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
            digits++;
            doubleIt = !doubleIt;
        }

        return digits is >= 13 and <= 19 && sum % 10 == 0;
    }

    [GeneratedRegex(@"\b(?:sk-ant-[A-Za-z0-9_\-]{8,}|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}|ks_[A-Za-z0-9_\-]{16,})")]
    private static partial Regex ApiKey();

    [GeneratedRegex(@"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")]
    private static partial Regex Email();

    [GeneratedRegex(@"(?<![\w\-.])\d(?:[ \-]?\d){12,18}(?![\w\-.])")]
    private static partial Regex Card();

    [GeneratedRegex(@"(?<![\w+\-.])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){1,4}(?![\w\-.])|(?<![\w+])\+\d{9,15}(?!\w)")]
    private static partial Regex Phone();
}
