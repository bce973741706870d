using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Api;

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

    /// <summary>Writes a gateway error in OpenAI's shape, with the key's rate-limit headers.</summary>
    public static Task WriteErrorAsync(HttpContext http, GatewayError error)
    {
        SetRateLimitHeaders(http.Response, error.RateLimit);
        return error.Cap is { } cap
            ? WriteBudgetErrorAsync(http, error, cap)
            : ApiErrors.WriteAsync(http, error.HttpStatus, error.Code, error.Message, error.Param, error.RetryAfter);
    }

    /// <summary>
    /// <c>budget_exceeded</c>: OpenAI's error fields (so SDKs read it as a 429 like any other) plus a <c>cap</c> object beside
    /// them, for clients that act on the numbers (docs/api.md). <c>Retry-After</c> is the wait until the cap resets.
    /// </summary>
    private static async Task WriteBudgetErrorAsync(HttpContext http, GatewayError error, BudgetCapRefusal cap)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        var inv = System.Globalization.CultureInfo.InvariantCulture;
        http.Response.StatusCode = error.HttpStatus;
        if (error.RetryAfter is { } wait)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(inv);
        }

        var body = new BudgetErrorBody(new BudgetErrorDetail(error.Message, ApiErrors.TypeFor(error.HttpStatus), error.Code, error.Param,
            new BudgetCapJson(cap.Scope switch
            {
                BudgetScope.Tenant => "tenant",
                BudgetScope.User => "user",
                BudgetScope.Feature => "feature",
                _ => "api_key",
            }, cap.Key, cap.Period == BudgetPeriod.Day ? "day" : "month", cap.LimitMicros, cap.SpentMicros, cap.ReservedMicros,
                cap.WorstCaseMicros, cap.LeftMicros, cap.ResetsAtUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", inv), cap.FitsOutputTokens)));
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
    }

    private sealed record BudgetErrorBody([property: JsonPropertyName("error")] BudgetErrorDetail Error);

    private sealed record BudgetErrorDetail(
        [property: JsonPropertyName("message")] string Message,
        [property: JsonPropertyName("type")] string Type,
        [property: JsonPropertyName("code")] string Code,
        [property: JsonPropertyName("param")] string? Param,
        [property: JsonPropertyName("cap")] BudgetCapJson Cap);

    /// <summary>The refusing cap on the wire: snake_case like the OpenAI fields around it, money in micro-USD, times UTC.</summary>
    private sealed record BudgetCapJson(
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("key")] string? Key,
        [property: JsonPropertyName("period")] string Period,
        [property: JsonPropertyName("limit_micros")] long Limit,
        [property: JsonPropertyName("spent_micros")] long Spent,
        [property: JsonPropertyName("reserved_micros")] long Reserved,
        [property: JsonPropertyName("worst_case_micros")] long WorstCase,
        [property: JsonPropertyName("left_micros")] long Left,
        [property: JsonPropertyName("resets_at")] string ResetsAt,
        [property: JsonPropertyName("fits_max_tokens")] int? FitsMaxTokens);

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
