using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Keystone.Web.Features.Api;

/// <summary>The OpenAPI document of the HTTP API (<c>/openapi/v1.json</c>), generated from the endpoints themselves.</summary>
internal static class ApiOpenApi
{
    public const string DocumentName = "v1";
    public const string Route = "/openapi/{documentName}.json";

    public static IServiceCollection AddKeystoneOpenApi(this IServiceCollection services) => services.AddOpenApi(DocumentName, o =>
    {
        o.ShouldInclude = d => d.RelativePath is { } path
            && (path.StartsWith("v1/", StringComparison.Ordinal) || path.StartsWith("api/v1/", StringComparison.Ordinal));
        o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Keystone HTTP API",
                Version = "v1",
                Description = "OpenAI-compatible endpoints under /v1 (point an OpenAI SDK's base URL here) and Keystone's own under /api/v1. "
                    + "Authenticate with a tenant API key: Authorization: Bearer ks_…. Errors use OpenAI's shape {\"error\": {\"message\", \"type\", \"code\", \"param\"}}; "
                    + "codes include invalid_api_key, api_key_expired (401; a key with an expiry gets X-Keystone-Key-Expires on every answer), insufficient_scope, model_not_allowed, budget_exceeded, rate_limit_exceeded, upstream_unavailable, server_overloaded (503 with Retry-After when the instance is at its in-flight limit).",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["ApiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "A tenant API key (ks_…), created on the console's /keys page.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("ApiKey", document)] = [] });
            return Task.CompletedTask;
        });
    });

    public static IEndpointRouteBuilder MapKeystoneOpenApi(this IEndpointRouteBuilder app)
    {
        // The API's shape is public (like OpenAI's); the keys are what is secret.
        app.MapOpenApi(Route).AllowAnonymous();
        return app;
    }
}
