using Keystone.Data;
using Keystone.Web.Features.Agents.Mcp;
using Keystone.Web.Features.Agents.Tools;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Agents;

/// <summary>The tool side of the agents feature (MCP servers, undo), called from <see cref="AgentsFeature"/>.</summary>
internal static class AgentToolsSetup
{
    public static IServiceCollection AddAgentToolsAndMcp(this IServiceCollection services) => services
        .AddOptionsWithValidateOnStart<McpOptions>().BindConfiguration(McpOptions.SectionName).ValidateDataAnnotations().Services
        .AddOptionsWithValidateOnStart<ToolOptions>().BindConfiguration(ToolOptions.SectionName).ValidateDataAnnotations().Services
        .AddSingleton<McpConnector>()
        .AddSingleton<McpToolSource>()
        .AddPerDatabase<McpServerLimit, SqliteMcpServerLimit, PostgresMcpServerLimit>()
        .AddScoped<McpServerCatalog>()
        .AddScoped<ToolUndoService>();

    /// <summary><c>/api/v1/mcp-servers</c> (admin key) and <c>POST /api/v1/runs/{id}/steps/{step}/undo</c> (chat key).</summary>
    public static IEndpointRouteBuilder MapAgentToolEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapKeystoneApiGroup(ApiPolicies.Admin);
        admin.MapGet("/mcp-servers", AgentToolEndpoints.ListServersAsync)
            .WithName("ListMcpServers")
            .WithSummary("This tenant's MCP servers: state, tools (as mcp__<server>__<tool>), the credential masked")
            .Produces<McpServerListDto>();
        admin.MapPost("/mcp-servers", AgentToolEndpoints.RegisterServerAsync)
            .WithName("RegisterMcpServer")
            .WithSummary("Registers an MCP server (Streamable HTTP) and lists its tools; they start at L3 for this tenant")
            .WithDescription("Body: { \"name\": \"crm\", \"url\": \"https://…/mcp\", \"authorization\": \"Bearer …\" (optional, stored encrypted, answered masked) }.")
            .Accepts<McpServerInputDoc>("application/json")
            .Produces<McpServerDto>(201)
            .WithErrors(400, 409, 413, 415);
        admin.MapGet("/mcp-servers/{id:guid}", AgentToolEndpoints.GetServerAsync)
            .WithName("GetMcpServer")
            .WithSummary("One MCP server of this tenant")
            .Produces<McpServerDto>()
            .WithErrors(404);
        admin.MapPost("/mcp-servers/{id:guid}/refresh", AgentToolEndpoints.RefreshServerAsync)
            .WithName("RefreshMcpServer")
            .WithSummary("Lists the server's tools again and records its state (a server that is down keeps its last tools, which then answer with an error)")
            .Produces<McpServerDto>()
            .WithErrors(404);
        admin.MapDelete("/mcp-servers/{id:guid}", AgentToolEndpoints.RemoveServerAsync)
            .WithName("RemoveMcpServer")
            .WithSummary("Removes an MCP server; its tools leave the registry")
            .Produces(204)
            .WithErrors(404);

        var chat = app.MapKeystoneApiGroup(ApiPolicies.Chat);
        chat.MapPost("/runs/{id:guid}/steps/{step:int}/undo", AgentToolEndpoints.UndoAsync)
            .WithName("UndoAgentRunStep")
            .WithSummary("Undoes what an L2 (act with undo) tool did in a step, within the undo window; a second undo answers that it was already undone")
            .Produces<UndoDto>()
            .WithErrors(404, 409);
        return app;
    }
}
