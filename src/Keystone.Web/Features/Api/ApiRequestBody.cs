using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Keystone.Gateway;
using Keystone.Web.Features.Keys;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Api;

/// <summary>Reads a JSON request body within the configured size limit and hands it to a field parser.</summary>
public sealed class ApiRequestBody(IOptionsMonitor<ApiOptions> options)
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
                RejectUndecodableStrings(document.RootElement);
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

/// <summary>Small helpers shared by the endpoints.</summary>
internal static class ApiHttp
{
    /// <summary>
    /// Writes <paramref name="value"/> as JSON with a <c>Content-Length</c>. Without a length the answer goes out
    /// chunked, and the closing chunk is a second send on the socket and a second read for the caller on every
    /// request — measurable on the hot route.
    /// </summary>
    public static Task WriteJsonAsync<T>(HttpResponse response, T value, JsonTypeInfo<T> type, CancellationToken ct)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, type);
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = bytes.Length;
        return response.Body.WriteAsync(bytes, ct).AsTask();
    }

    /// <summary>
    /// Refuses a model the key's own allow-list leaves out: 403 <c>model_not_allowed</c>, like the tenant's list
    /// (which the gateway checks after this), naming what the key may use.
    /// </summary>
    public static void EnsureKeyMayUse(ApiKeyIdentity key, string model)
    {
        if (!key.MayUse(model))
        {
            throw new ApiException(403, GatewayErrorCodes.ModelNotAllowed,
                $"The model '{model.Trim()}' is not allowed for API key '{key.Name}'. It may use: {string.Join(", ", key.AllowedModels!.Order(StringComparer.OrdinalIgnoreCase))}.",
                "model");
        }
    }

    /// <summary>The gateway context of an API request: the key's tenant, the key, the end user, feature and ids.</summary>
    public static CallContext CallContextOf(HttpContext http, ApiKeyIdentity key, string? endUser) => new()
    {
        TenantId = key.TenantId,
        ApiKeyId = key.KeyId,
        EndUser = endUser,
        Feature = FeatureOf(http.Request),
        RequestId = http.TraceIdentifier,
        TraceId = TraceIdOf(http),
        IdempotencyKey = IdempotencyKeyOf(http.Request),
    };

    /// <summary>Where the API's error middleware leaves the trace id it announced in <c>x-request-id</c>.</summary>
    public static readonly object TraceIdItem = new();

    /// <summary>The trace id this request's call takes (the one inside its <c>x-request-id</c>).</summary>
    public static Guid? TraceIdOf(HttpContext http) => http.Items.TryGetValue(TraceIdItem, out var id) ? (Guid?)id : null;

    /// <summary>The feature label from <c>X-Keystone-Feature</c> (default <c>default</c>), validated.</summary>
    public static string FeatureOf(HttpRequest request)
    {
        var value = request.Headers["X-Keystone-Feature"].ToString().Trim();
        if (value.Length == 0)
        {
            return "default";
        }

        if (!FeatureLabel.IsValid(value))
        {
            throw ApiException.Invalid("X-Keystone-Feature", $"X-Keystone-Feature must be {FeatureLabel.Rule}.");
        }

        return value;
    }

    /// <summary>The optional <c>Idempotency-Key</c> header, validated.</summary>
    public static string? IdempotencyKeyOf(HttpRequest request)
    {
        var value = request.Headers["Idempotency-Key"].ToString().Trim();
        if (value.Length == 0)
        {
            return null;
        }

        return value.Length > 128 ? throw ApiException.Invalid("Idempotency-Key", "Idempotency-Key must be at most 128 characters.") : value;
    }

    public static string CacheHeader(Keystone.Data.Calls.CacheStatus status) => status switch
    {
        Keystone.Data.Calls.CacheStatus.Exact => "exact",
        Keystone.Data.Calls.CacheStatus.Semantic => "semantic",
        _ => "miss",
    };

    /// <summary>
    /// Milliseconds with at most three decimals (<c>0.043</c>, <c>0.5</c>, <c>12</c>): rounded, then the shortest
    /// round-trip text — what the custom format <c>"0.###"</c> gives, without its slow path (it showed in perf on
    /// every answer).
    /// </summary>
    public static string Milliseconds(double value)
        => Math.Round(value, 3, MidpointRounding.AwayFromZero).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// <c>X-Keystone-Cache</c>, and for a semantic-cache hit <c>X-Keystone-Cache-Similarity</c>: how close the question
    /// was to the cached one (four decimals).
    /// </summary>
    public static void SetCacheHeaders(HttpResponse response, Keystone.Data.Calls.CacheStatus status, double? similarity)
    {
        response.Headers["X-Keystone-Cache"] = CacheHeader(status);
        if (similarity is { } value)
        {
            response.Headers["X-Keystone-Cache-Similarity"] = Math.Round(value, 4).ToString("0.0###", System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Sets the attribution headers every answer carries.</summary>
    public static void SetOutcomeHeaders(HttpResponse response, CallOutcome outcome, bool includeCost)
    {
        var h = response.Headers;
        h["X-Keystone-Trace-Id"] = outcome.TraceId.ToString();
        SetCacheHeaders(response, outcome.CacheStatus, outcome.CacheSimilarity);
        if (outcome.Provider is not null)
        {
            h["X-Keystone-Provider"] = outcome.Provider;
        }

        if (outcome.Model is not null)
        {
            h["X-Keystone-Model"] = outcome.Model;
        }

        if (includeCost)
        {
            h["X-Keystone-Cost-Micros"] = outcome.CostMicros.ToString(System.Globalization.CultureInfo.InvariantCulture);
            h["X-Gateway-Overhead-Ms"] = Milliseconds(outcome.OverheadMs);
        }

        SetRateLimitHeaders(response, outcome.RateLimit);
    }

    /// <summary>
    /// OpenAI's request rate-limit headers for the calling key's window, so clients and SDK middleware that pace
    /// themselves by them work unchanged. Keystone has no tokens-per-minute limit, so the <c>-tokens</c> trio is not sent.
    /// </summary>
    public static void SetRateLimitHeaders(HttpResponse response, RequestRateLimit? limit)
    {
        if (limit is null || response.HasStarted)
        {
            return;
        }

        var h = response.Headers;
        h["x-ratelimit-limit-requests"] = limit.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        h["x-ratelimit-remaining-requests"] = limit.Remaining.ToString(System.Globalization.CultureInfo.InvariantCulture);
        h["x-ratelimit-reset-requests"] = ResetText(limit.Reset);
    }

    /// <summary>A wait in OpenAI's header form: <c>17s</c>, <c>1m0s</c>.</summary>
    public static string ResetText(TimeSpan wait)
    {
        var seconds = Math.Max(0, (long)Math.Ceiling(wait.TotalSeconds));
        return seconds < 60
            ? seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + "s"
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{seconds / 60}m{seconds % 60}s");
    }
}
