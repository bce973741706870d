namespace Keystone.Web.Features.Agents;

/// <summary>A refused agent or run operation, with a machine-readable code the API answers with.</summary>
internal sealed class AgentException(int status, string code, string message, string? param = null) : Exception(message)
{
    public const string NotFound = "not_found";
    public const string Invalid = "invalid_request_error";
    public const string Conflict = "conflict";

    public int Status { get; } = status;

    public string Code { get; } = code;

    public string? Param { get; } = param;

    public static AgentException Bad(string param, string message) => new(400, Invalid, message, param);

    public static AgentException Missing(string message) => new(404, NotFound, message);
}
