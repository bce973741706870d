using System.Text.Json;

namespace Keystone.Web.Platform.Http;

/// <summary>Writes errors in OpenAI's shape, with the status and headers that go with them.</summary>
internal static class ApiErrors
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
    public const string DatabaseBusy = "database_busy";

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
}
