using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Authentication;

namespace Keystone.Web.Features.Api;

internal static class ApiFeature
{
    public static IServiceCollection AddApiFeature(this IServiceCollection services)
    {
        services.AddSingleton<ApiRouteMethods>();
        services.AddSingleton<ApiLoadShedder>();
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyContext.SchemeName, null);
        var authorization = services.AddAuthorizationBuilder();
        foreach (var (policy, scopes) in ApiPolicies.ScopesFor)
        {
            authorization.AddPolicy(policy, p => p
                .AddAuthenticationSchemes(ApiKeyContext.SchemeName)
                .RequireAuthenticatedUser()
                .RequireAssertion(ctx => ctx.User.Identity?.AuthenticationType == ApiKeyContext.SchemeName
                    && ctx.User.FindAll(ApiKeyContext.ScopeClaim).Any(c => c.Value == ApiKeyScopes.Admin || scopes.Contains(c.Value))));
        }

        services.AddKeystoneOpenApi();
        return services;
    }

    /// <summary>OpenAI's error shape for every answer under <c>/v1</c> and <c>/api/v1</c>; call after the status-code pages.</summary>
    public static IApplicationBuilder UseApiErrors(this IApplicationBuilder app)
        => app.UseWhen(http => ApiErrorMiddleware.Applies(http.Request), branch => branch.UseMiddleware<ApiErrorMiddleware>());

    /// <summary>
    /// The in-flight limit of the model-calling routes (<see cref="ApiOptions.MaxConcurrentRequests"/>); call after
    /// <c>UseAuthorization</c>, so that requests refused for their key never take a slot.
    /// </summary>
    public static IApplicationBuilder UseApiLoadShedding(this IApplicationBuilder app)
        => app.UseMiddleware<ApiLoadSheddingMiddleware>();

    public static IEndpointRouteBuilder MapApiEndpoints(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI-compatible").DisableAntiforgery().WithSharedErrors(401, 403);
        v1.MapPost("/chat/completions", ChatCompletionsEndpoint.HandleAsync)
            .ShedsLoad()
            .RequireAuthorization(ApiPolicies.Chat)
            .WithName("CreateChatCompletion")
            .WithSummary("Chat completion (OpenAI Chat Completions contract)")
            .WithDescription("model is an alias (fast, smart, reasoning) or an allowed provider/model. stream: true answers text/event-stream chunks ending with data: [DONE]; "
                + "the final chunk carries x_keystone_cost_micros, and with stream_options.include_usage a usage chunk follows. Header X-Keystone-Feature labels the call; "
                + "answers carry X-Keystone-Trace-Id, X-Keystone-Cost-Micros, X-Keystone-Cache, X-Keystone-Provider, X-Keystone-Model and X-Gateway-Overhead-Ms, "
                + "and the key's window as x-ratelimit-limit-requests, x-ratelimit-remaining-requests and x-ratelimit-reset-requests. "
                + "In a feature with the semantic cache on, a paraphrase of a cached question in the same context answers X-Keystone-Cache: semantic "
                + "with X-Keystone-Cache-Similarity.")
            .Accepts<ChatCompletionRequestDoc>("application/json")
            .Produces<ChatCompletionResponse>(200, "application/json", "text/event-stream")
            .WithErrors(400, 413, 415, 429, 502, 503);
        v1.MapPost("/prompts/{name}/completions", PromptCompletionsEndpoint.HandleAsync)
            .ShedsLoad()
            .RequireAuthorization(ApiPolicies.Chat)
            .WithName("CreatePromptCompletion")
            .WithSummary("Chat completion from a managed prompt (answered in the Chat Completions shape)")
            .WithDescription("Renders the tenant's active version of the prompt (or version n) with variables and calls its model alias. "
                + "Errors: 404 prompt_not_found / prompt_version_not_found, 409 prompt_not_active, 400 missing_variable (param names the variable). "
                + "stream: true answers text/event-stream like /v1/chat/completions; the same X-Keystone-* headers apply.")
            .Accepts<PromptCompletionRequestDoc>("application/json")
            .Produces<ChatCompletionResponse>(200, "application/json", "text/event-stream")
            .WithErrors(400, 404, 409, 413, 415, 429, 502, 503);
        v1.MapPost("/embeddings", EmbeddingsEndpoint.EmbedAsync)
            .ShedsLoad()
            .RequireAuthorization(ApiPolicies.Embeddings)
            .WithName("CreateEmbeddings")
            .WithSummary("Embeddings (OpenAI Embeddings contract)")
            .WithDescription("input is a string or an array of strings; encoding_format float (default) or base64.")
            .Accepts<EmbeddingRequestDoc>("application/json")
            .Produces<EmbeddingList>()
            .WithErrors(400, 413, 415, 429, 502, 503);
        v1.MapGet("/models", EmbeddingsEndpoint.ModelsAsync)
            .RequireAuthorization(ApiPolicies.ChatOrEmbeddings)
            .WithName("ListModels")
            .WithSummary("The aliases and models this tenant may use")
            .Produces<ModelList>();
        v1.MapGet("/models/{**model}", EmbeddingsEndpoint.ModelAsync)
            .RequireAuthorization(ApiPolicies.ChatOrEmbeddings)
            .WithName("RetrieveModel")
            .WithSummary("One alias or model this key may use (OpenAI's retrieve model)")
            .WithDescription("model is an alias (smart) or provider/model (openai/gpt-4o; the slash may be sent as %2F). 404 model_not_found otherwise.")
            .Produces<ModelDto>()
            .WithErrors(404);

        app.MapKeystoneOpenApi();
        return app;
    }

    /// <summary>
    /// Counts the route against the in-flight limit. Only the routes that call a model: their time is set by a
    /// provider (seconds, unbounded when one stalls), while the others answer from memory or one query.
    /// </summary>
    private static RouteHandlerBuilder ShedsLoad(this RouteHandlerBuilder builder)
        => builder.WithMetadata(ApiLoadSheddingMiddleware.Marker.Instance);
}
