namespace Keystone.Web.Features.Prompts;

/// <summary>
/// A managed prompt could not be resolved or rendered: unknown prompt or version, a missing variable, or invalid
/// input when editing. <see cref="Code"/> is machine-readable (the HTTP API returns it in OpenAI's error shape).
/// </summary>
internal sealed class PromptException(string code, string message, string? variable = null) : Exception(message)
{
    /// <summary>No prompt with that name (HTTP 404).</summary>
    public const string NotFound = "prompt_not_found";

    /// <summary>The prompt has no such version (HTTP 404).</summary>
    public const string VersionNotFound = "prompt_version_not_found";

    /// <summary>The prompt has no active version for the tenant, and none was named (HTTP 409).</summary>
    public const string NotActive = "prompt_not_active";

    /// <summary>A variable the template uses has no value (HTTP 400).</summary>
    public const string MissingVariable = "missing_variable";

    /// <summary>An edit was rejected (validation message).</summary>
    public const string Invalid = "invalid_prompt";

    public string Code { get; } = code;

    /// <summary>The variable concerned, for <see cref="MissingVariable"/>.</summary>
    public string? Variable { get; } = variable;
}
