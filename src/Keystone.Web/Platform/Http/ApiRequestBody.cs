using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Platform.Http;

/// <summary>Reads a JSON request body within the configured size limit and hands it to a field parser.</summary>
internal sealed class ApiRequestBody(IOptionsMonitor<ApiOptions> options)
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    /// <summary>Reads, size-checks and parses the body; every failure is an <see cref="ApiException"/> (400, 413 or 415).</summary>
    public async Task<T> ReadAsync<T>(HttpRequest request, Func<JsonElement, T> parse, CancellationToken ct)
    {
        var limit = options.CurrentValue.MaxRequestBodyBytes;
        if (!IsJson(request.ContentType))
        {
            throw new ApiException(415, ApiErrors.UnsupportedMediaType, "Send the body as application/json (Content-Type: application/json).");
        }

        if (request.ContentLength > limit)
        {
            throw TooLarge(limit);
        }

        // Sized from Content-Length (+1 so the final zero-byte read needs no growth): a typical chat body is a few
        // hundred bytes, and a fixed 16 KiB read size made every request allocate at least that much.
        var declared = request.ContentLength is { } length ? (int)Math.Clamp(length, 0, limit) : (int?)null;
        var buffer = new ArrayBufferWriter<byte>((declared ?? 4096) + 1);
        while (true)
        {
            var memory = buffer.GetMemory(declared is { } d && buffer.WrittenCount < d ? d - buffer.WrittenCount + 1 : 4096);
            var read = await request.Body.ReadAsync(memory, ct);
            if (read == 0)
            {
                break;
            }

            buffer.Advance(read);
            if (buffer.WrittenCount > limit)
            {
                throw TooLarge(limit);
            }
        }

        if (buffer.WrittenCount == 0)
        {
            throw ApiException.Invalid("body", "The request body is empty; send a JSON object.");
        }

        // System.Text.Json checks UTF-8 only where a string is decoded; a broken property name deep inside a
        // tool schema would otherwise travel on to a provider adapter. Refuse it here, once, for the whole body.
        if (!System.Text.Unicode.Utf8.IsValid(buffer.WrittenSpan))
        {
            throw ApiException.Invalid("body", "The request body is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.WrittenMemory, DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw ApiException.Invalid("body", $"The request body is not valid JSON: {Describe(ex)}");
        }

        using (document)
        {
            try
            {
                // Only an escape can hold a lone surrogate: a body without any "\u" (most of them) has none, and the
                // walk over every string and property name is skipped (issue 26, the request path's CPU).
                if (buffer.WrittenSpan.IndexOf("\\u"u8) >= 0)
                {
                    RejectUndecodableStrings(document.RootElement);
                }
                return parse(document.RootElement);
            }
            catch (InvalidOperationException)
            {
                // System.Text.Json refuses to turn escaped lone surrogates ("\ud800") into a .NET string.
                throw ApiException.Invalid("body", "The request body holds a string that is not valid Unicode.");
            }
        }
    }

    // Escaped lone surrogates ("\ud800") are valid JSON but not valid Unicode. The body is already known to be
    // valid UTF-8, so only a string with an escape can hold one: decode just those (once, for the whole body)
    // instead of allocating every string and property name a second time.
    private static void RejectUndecodableStrings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                if (JsonMarshal.GetRawUtf8Value(element).Contains((byte)'\\'))
                {
                    _ = element.GetString();
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (JsonMarshal.GetRawUtf8PropertyName(property).Contains((byte)'\\'))
                    {
                        _ = property.Name;
                    }

                    RejectUndecodableStrings(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    RejectUndecodableStrings(item);
                }

                break;
            default:
                break;
        }
    }

    private static ApiException TooLarge(int limit)
        => new(413, ApiErrors.RequestTooLarge, $"The request body is larger than the {limit:N0} bytes this server accepts.");

    private static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return false;
        }

        var mediaType = contentType.Split(';', 2)[0].Trim();
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (mediaType.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    // The reader's message names line and byte position, never body content.
    private static string Describe(JsonException ex) => ex.LineNumber is { } line
        ? $"error at line {line + 1}, byte {ex.BytePositionInLine + 1}."
        : "it could not be read.";
}
