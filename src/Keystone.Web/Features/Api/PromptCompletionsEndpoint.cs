using System.Globalization;
using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform.Http;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Api;

/// <summary>A parsed <c>POST /v1/prompts/{name}/completions</c> body.</summary>
internal sealed record PromptCompletionRequest(IReadOnlyDictionary<string, string> Variables, int? Version, bool Stream, bool IncludeUsage, string? User);

/// <summary>
/// <c>POST /v1/prompts/{name}/completions</c>: renders the tenant's active version of a managed prompt (or the version
/// named) with the body's variables and answers exactly like <c>/v1/chat/completions</c>, streamed or not. The call
/// records the prompt name, version and variables. Errors in OpenAI's shape: unknown prompt or version 404
/// (<c>prompt_not_found</c>, <c>prompt_version_not_found</c>), nothing active 409 (<c>prompt_not_active</c>), a missing
/// variable 400 (<c>missing_variable</c>, naming it).
/// </summary>
internal static class PromptCompletionsEndpoint
{
    private const int MaxVariables = 100;
    private const int MaxValueLength = 100_000;

    public static async Task HandleAsync(HttpContext http, string name, ILlmGateway gateway, PromptRenderer prompts, ApiRequestBody body,
        IOptionsMonitor<ApiOptions> options, TimeProvider clock)
    {
        var ct = http.RequestAborted;
        var key = ApiKeyContext.KeyOf(http) ?? throw new InvalidOperationException("API key authentication did not run.");
        var parsed = await body.ReadAsync(http.Request, Parse, ct);
        RenderedPrompt rendered;
        try
        {
            rendered = await prompts.RenderAsync(name, key.TenantId, parsed.Version, parsed.Variables, ct);
        }
        catch (PromptException ex)
        {
            throw ex.Code switch
            {
                PromptException.NotFound or PromptException.VersionNotFound => new ApiException(404, ex.Code, ex.Message, ex.Code == PromptException.VersionNotFound ? "version" : null),
                PromptException.NotActive => new ApiException(409, ex.Code, ex.Message),
                PromptException.MissingVariable => new ApiException(400, ex.Code, ex.Message, $"variables.{ex.Variable}"),
                _ => new ApiException(400, ex.Code, ex.Message),
            };
        }

        // The prompt version names the model; the key's allow-list applies to it as if the caller had.
        ApiHttp.EnsureKeyMayUse(key, rendered.Request.Model);
        var context = rendered.Apply(ApiHttp.CallContextOf(http, key, parsed.User));
        await ChatCompletionsEndpoint.RespondAsync(http, gateway, rendered.Request, context, parsed.Stream, parsed.IncludeUsage, options.CurrentValue, clock, ct);
    }

    /// <summary>Reads the body; every malformed field is a 400 naming it. Unknown fields are ignored.</summary>
    public static PromptCompletionRequest Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("variables", out var vars) && vars.ValueKind != JsonValueKind.Null)
        {
            if (vars.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid("variables", "variables must be an object of names to values.");
            }

            foreach (var v in vars.EnumerateObject())
            {
                if (variables.Count == MaxVariables)
                {
                    throw ApiException.Invalid("variables", $"At most {MaxVariables} variables are accepted.");
                }

                // Numbers and booleans are accepted as their JSON text; objects and arrays are not template values.
                var value = v.Value.ValueKind switch
                {
                    JsonValueKind.String => v.Value.GetString()!,
                    JsonValueKind.Number => v.Value.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => throw ApiException.Invalid($"variables.{v.Name}", $"variables.{v.Name} must be a string, number or boolean."),
                };
                if (value.Length > MaxValueLength)
                {
                    throw ApiException.Invalid($"variables.{v.Name}", $"variables.{v.Name} may have at most {MaxValueLength.ToString("N0", CultureInfo.InvariantCulture)} characters.");
                }

                variables[v.Name] = value;
            }
        }

        var version = JsonFields.OptionalInt(root, "version", 1, int.MaxValue);
        var user = JsonFields.OptionalString(root, "user", maxLength: 256);
        var (stream, includeUsage) = ChatCompletionParser.ParseStreaming(root);

        return new PromptCompletionRequest(variables, version, stream, includeUsage, user);
    }
}

/// <summary>The documented request body of <c>POST /v1/prompts/{name}/completions</c> (read by hand; this type exists for the OpenAPI document).</summary>
internal sealed record PromptCompletionRequestDoc(
    [property: System.Text.Json.Serialization.JsonPropertyName("variables")] IReadOnlyDictionary<string, string>? Variables,
    [property: System.Text.Json.Serialization.JsonPropertyName("version")] int? Version,
    [property: System.Text.Json.Serialization.JsonPropertyName("stream")] bool? Stream,
    [property: System.Text.Json.Serialization.JsonPropertyName("user")] string? User);
