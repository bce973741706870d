using System.Text.Json;
using Keystone.Web.Features.Agents.Mcp;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Agents;

/// <summary>An MCP server over the API: never its credential, only the credential's last four characters.</summary>
internal sealed record McpServerDto(Guid Id, string Name, string Url, string? Authorization, string State, string? LastError, DateTime? CheckedUtc,
    IReadOnlyList<McpToolView> Tools, DateTime CreatedUtc)
{
    public static McpServerDto From(McpServerView v) => new(v.Id, v.Name, v.Url, v.AuthHint, v.State, v.LastError, v.CheckedUtc, v.Tools, v.CreatedUtc);
}

internal sealed record McpServerListDto(IReadOnlyList<McpServerDto> Servers);

/// <summary>The registration body (for the OpenAPI document).</summary>
internal sealed record McpServerInputDoc(string Name, string Url, string? Authorization);

/// <summary>An undo's answer.</summary>
internal sealed record UndoDto(Guid RunId, int Step, string Tool, string State, bool AlreadyUndone, DateTime? UndoneUtc, string Message);

/// <summary>
/// <c>/api/v1/mcp-servers</c> for an admin key (the key's tenant only; another tenant's ids answer 404) and the undo of an
/// L2 step for a chat key.
/// </summary>
internal static class AgentToolEndpoints
{
    public static async Task<IResult> ListServersAsync(HttpContext http, McpServerCatalog catalog)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var servers = await catalog.ListAsync(key.TenantId, http.RequestAborted);
        return TypedResults.Ok(new McpServerListDto([.. servers.Select(McpServerDto.From)]));
    }

    public static async Task<IResult> GetServerAsync(HttpContext http, Guid id, McpServerCatalog catalog)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var server = await catalog.GetAsync(key.TenantId, id, http.RequestAborted) ?? throw ApiException.NotFound("No MCP server with that id in this tenant.");
        return TypedResults.Ok(McpServerDto.From(server));
    }

    public static async Task<IResult> RegisterServerAsync(HttpContext http, ApiRequestBody body, McpServerCatalog catalog)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var input = await body.ReadAsync(http.Request, root =>
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid("body", "The request body must be a JSON object.");
            }

            return new McpServerInput(
                JsonFields.RequiredString(root, "name", 24),
                JsonFields.RequiredString(root, "url", 2_000),
                JsonFields.OptionalString(root, "authorization", McpServerCatalog.MaxAuthorizationLength));
        }, ct);
        var server = await Map(() => catalog.RegisterAsync(key.TenantId, input, $"api-key:{key.KeyId}", ct));
        return TypedResults.Created($"/api/v1/mcp-servers/{server.Id}", McpServerDto.From(server));
    }

    public static async Task<IResult> RefreshServerAsync(HttpContext http, Guid id, McpServerCatalog catalog)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var server = await catalog.RefreshAsync(key.TenantId, id, http.RequestAborted) ?? throw ApiException.NotFound("No MCP server with that id in this tenant.");
        return TypedResults.Ok(McpServerDto.From(server));
    }

    public static async Task<IResult> RemoveServerAsync(HttpContext http, Guid id, McpServerCatalog catalog)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        return await catalog.RemoveAsync(key.TenantId, id, http.RequestAborted)
            ? TypedResults.NoContent()
            : throw ApiException.NotFound("No MCP server with that id in this tenant.");
    }

    public static async Task<IResult> UndoAsync(HttpContext http, Guid id, int step, ToolUndoService undo)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var answer = await Map(() => undo.UndoAsync(key.TenantId, id, step, $"api_key:{key.KeyId}", http.RequestAborted));
        return TypedResults.Ok(new UndoDto(id, answer.Step, answer.Tool, "undone", answer.Outcome == UndoOutcome.AlreadyUndone, answer.UndoneUtc, answer.Message));
    }

    private static async Task<T> Map<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (AgentException ex)
        {
            throw new ApiException(ex.Status, ex.Code, ex.Message, ex.Param);
        }
    }
}
