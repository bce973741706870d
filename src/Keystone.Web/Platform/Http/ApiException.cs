using Keystone.Gateway;

namespace Keystone.Web.Platform.Http;

/// <summary>An error the API answers with, before or instead of calling the gateway.</summary>
internal sealed class ApiException(int status, string code, string message, string? param = null, TimeSpan? retryAfter = null) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    public string? Param { get; } = param;

    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>400 with the offending field.</summary>
    public static ApiException Invalid(string param, string message) => new(400, GatewayErrorCodes.InvalidRequest, message, param);

    /// <summary>404.</summary>
    public static ApiException NotFound(string message) => new(404, "not_found", message);

    /// <summary>422: the request was well formed but refused on its merits (the provider refused the key: <c>provider_key_rejected</c>).</summary>
    public static ApiException Unprocessable(string code, string param, string message) => new(422, code, message, param);

    /// <summary>409: the change lost a race with another change to the same thing and changed nothing.</summary>
    public static ApiException Conflict(string message) => new(409, GatewayErrorCodes.Conflict, message);
}
