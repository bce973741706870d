using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Keystone.Gateway.Providers;

/// <summary>Sending, timeouts and error classification shared by the HTTP adapters.</summary>
internal static class ProviderHttp
{
    public static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };

    /// <summary>
    /// Sends an OpenAI-kind provider's key: as a bearer token in <c>Authorization</c> (OpenAI), or in the header the
    /// provider's options name (for example Azure's <c>api-key</c>). No key, no header.
    /// </summary>
    public static void AddApiKey(HttpRequestMessage message, ProviderOptions options, string? apiKey)
    {
        if (string.IsNullOrEmpty(apiKey))
        {
            return;
        }

        if (string.Equals(options.ApiKeyHeader, "Authorization", StringComparison.OrdinalIgnoreCase))
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        else
        {
            message.Headers.TryAddWithoutValidation(options.ApiKeyHeader, apiKey);
        }
    }

    /// <summary>Combines a base URL (with or without trailing slash) and a relative path.</summary>
    public static Uri Combine(Uri baseUrl, string path)
    {
        var text = baseUrl.AbsoluteUri;
        return new Uri(text.EndsWith('/') ? text + path : text + "/" + path);
    }

    /// <summary>
    /// Sends the request and returns a successful response (headers read, body not yet buffered for streams).
    /// Upstream errors, timeouts and connection failures become <see cref="ProviderException"/>; the caller's
    /// cancellation stays an <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpRequestMessage request, string providerName,
        string? apiKey, TimeSpan timeout, bool stream, TimeProvider time, CancellationToken ct)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, stream ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead,
                timeoutCts.Token);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new ProviderException($"{providerName}: no response within {timeout.TotalSeconds:0} s.", (int)HttpStatusCode.RequestTimeout,
                isRetryable: true, inner: ex);
        }
        catch (HttpRequestException ex)
        {
            throw new ProviderException($"{providerName}: connection failed ({Scrub(ex.Message, apiKey)}).", null, isRetryable: true, inner: ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            string body;
            try
            {
                body = await response.Content.ReadAsStringAsync(timeoutCts.Token);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                body = "";
            }

            throw FromStatus(providerName, (int)response.StatusCode, body, RetryAfter(response, time.GetUtcNow()), apiKey);
        }
    }

    /// <summary>Longest wait for a key check's answer: an admin is waiting on the page, and an unanswered check still saves the key.</summary>
    public static readonly TimeSpan KeyCheckTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Sends a key check (an authenticated, side-effect-free GET) and classifies the answer: success accepts, 401/403
    /// reject, anything else (connection failure, timeout, 429, 5xx, a 404 from a compatible server without a model
    /// list, a redirect) leaves the key unverified. Only the status line and headers are awaited; the body is not read.
    /// </summary>
    public static async Task<ProviderKeyCheck> CheckKeyAsync(HttpClient client, HttpRequestMessage request, string providerName,
        string apiKey, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        try
        {
            using var response = await SendAsync(client, request, providerName, apiKey, timeout < KeyCheckTimeout ? timeout : KeyCheckTimeout,
                stream: true, time, ct);
            return ProviderKeyCheck.Of(ProviderKeyCheckResult.Accepted, null);
        }
        catch (ProviderException ex) when (ex.StatusCode is 401 or 403)
        {
            return ProviderKeyCheck.Of(ProviderKeyCheckResult.Rejected, ex.Message);
        }
        catch (ProviderException ex)
        {
            return ProviderKeyCheck.Of(ProviderKeyCheckResult.Unverified, ex.Message);
        }
    }

    /// <summary>An upstream error status (or an error event in a stream) as a classified exception.</summary>
    public static ProviderException FromStatus(string providerName, int status, string body, TimeSpan? retryAfter, string? apiKey)
    {
        var detail = ErrorMessage(body);
        var message = $"{providerName} returned {status}{(detail is null ? "" : ": " + Scrub(detail, apiKey))}";
        return new ProviderException(message, status, IsRetryable(status), retryAfter);
    }

    /// <summary>408, 409 (Anthropic/OpenAI conflicts are transient), 429 and every 5xx (Anthropic's 529 included) are worth another target.</summary>
    public static bool IsRetryable(int status) => status is 408 or 409 or 429 || status >= 500;

    /// <summary>Anthropic error types inside a stream, mapped to the HTTP status they stand for.</summary>
    public static int StatusOfErrorType(string? type) => type switch
    {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        "timeout_error" => 504,
        _ => 500,
    };

    /// <summary><c>retry-after-ms</c> (OpenAI, milliseconds) wins over <c>Retry-After</c> (seconds, or an HTTP date counted from <paramref name="now"/>).</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        if (response.Headers.TryGetValues("retry-after-ms", out var ms)
            && double.TryParse(ms.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var millis) && millis >= 0)
        {
            return TimeSpan.FromMilliseconds(millis);
        }

        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        if (retryAfter?.Date is { } date)
        {
            var wait = date - now;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>The message of an OpenAI (<c>{"error":{"message":…}}</c>) or Anthropic (<c>{"type":"error","error":{…}}</c>) error body.</summary>
    public static string? ErrorMessage(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var error))
            {
                if (error.ValueKind == JsonValueKind.String)
                {
                    return Trim(error.GetString());
                }

                if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
                {
                    var type = error.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                    return Trim(type is null ? m.GetString() : $"{type}: {m.GetString()}");
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page): keep a short plain-text excerpt.
        }

        return Trim(body);
    }

    /// <summary>Removes the key from text that came from upstream (some servers echo what they were sent).</summary>
    public static string Scrub(string text, string? apiKey)
        => string.IsNullOrEmpty(apiKey) || apiKey.Length < 4 ? text : text.Replace(apiKey, "***", StringComparison.Ordinal);

    private static string? Trim(string? text) => text is null ? null : text.Length <= 300 ? text : text[..300] + "…";
}
