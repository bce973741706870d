using System.Text.Json;
using System.Text.Json.Serialization;
using Keystone.Gateway;

namespace Keystone.Web.Features.Api;

/// <summary>OpenAI's error body: <c>{"error": {"message", "type", "code", "param"}}</c>.</summary>
public sealed record ApiErrorBody([property: JsonPropertyName("error")] ApiErrorDetail Error);

/// <summary>The inside of <see cref="ApiErrorBody"/>.</summary>
public sealed record ApiErrorDetail(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("code")] string? Code,
    [property: JsonPropertyName("param")] string? Param);

/// <summary>An error the API answers with, before or instead of calling the gateway.</summary>
public sealed class ApiException(int status, string code, string message, string? param = null, TimeSpan? retryAfter = null) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public string? Param { get; } = param;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>400 with the offending field.</summary>
    public static ApiException Invalid(string param, string message) => new(400, GatewayErrorCodes.InvalidRequest, message, param);

    /// <summary>404.</summary>
    public static ApiException NotFound(string message) => new(404, "not_found", message);
}

/// <summary>Writes errors in OpenAI's shape, with the status and headers that go with them.</summary>
public static class ApiErrors
{
    public const string MissingApiKey = "missing_api_key";
    public const string ExpiredApiKey = "api_key_expired";
    public const string InsufficientScope = "insufficient_scope";
    public const string RequestTooLarge = "request_too_large";
    public const string UnsupportedMediaType = "unsupported_media_type";
    public const string NotFound = "not_found";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string InternalError = "internal_error";
    public const string ServerOverloaded = "server_overloaded";

    /// <summary>OpenAI's <c>type</c> for a status.</summary>
    public static string TypeFor(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    /// <summary>The error body as UTF-8 JSON.</summary>
    public static byte[] Body(int status, string? code, string message, string? param)
        => JsonSerializer.SerializeToUtf8Bytes(new ApiErrorBody(new ApiErrorDetail(message, TypeFor(status), code, param)));

    /// <summary>Writes an error response unless one has already started.</summary>
    public static async Task WriteAsync(HttpContext http, int status, string? code, string message, string? param = null, TimeSpan? retryAfter = null)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json; charset=utf-8";
        if (retryAfter is { } wait)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var body = Body(status, code, message, param);
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }

    /// <summary>Writes a gateway error.</summary>
    public static Task WriteAsync(HttpContext http, GatewayError error)
    {
        ApiHttp.SetRateLimitHeaders(http.Response, error.RateLimit);
        return WriteAsync(http, error.HttpStatus, error.Code, error.Message, error.Param, error.RetryAfter);
    }
}
