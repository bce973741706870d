using Keystone.Web.Hosting;
using Keystone.Web.Features.Keys;
using Microsoft.AspNetCore.Authentication;

namespace Keystone.Web.Features.Api;

/// <summary>Authorization policies of the HTTP API: one per API key scope.</summary>
public static class ApiPolicies
{
    public const string Chat = "api:" + ApiKeyScopes.Chat;
    public const string Embeddings = "api:" + ApiKeyScopes.Embeddings;
    public const string ChatOrEmbeddings = "api:chat-or-embeddings";
    public const string UsageRead = "api:" + ApiKeyScopes.UsageRead;
    public const string Admin = "api:" + ApiKeyScopes.Admin;

    /// <summary>The scopes (any of) each policy accepts; an admin key passes every policy.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> ScopesFor = new Dictionary<string, string[]>
    {
        [Chat] = [ApiKeyScopes.Chat],
        [Embeddings] = [ApiKeyScopes.Embeddings],
        [ChatOrEmbeddings] = [ApiKeyScopes.Chat, ApiKeyScopes.Embeddings],
        [UsageRead] = [ApiKeyScopes.UsageRead],
        [Admin] = [ApiKeyScopes.Admin],
    };
}

public static class ApiFeature
{
    public static IServiceCollection AddApiFeature(this IServiceCollection services)
    {
        services.AddOptionsWithValidateOnStart<ApiOptions>().BindConfiguration(ApiOptions.SectionName).ValidateDataAnnotations();
        services.AddSingleton<ApiRequestBody>();
        services.AddSingleton<ApiRouteMethods>();
        services.AddSingleton<ApiLoadShedder>();
        services.AddRecurringJob<CacheExpiryJob>(CacheExpiryJob.RecurringId, CacheExpiryJob.Cron, j => j.RunAsync(CancellationToken.None));
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        var authorization = services.AddAuthorizationBuilder();
        foreach (var (policy, scopes) in ApiPolicies.ScopesFor)
        {
            authorization.AddPolicy(policy, p => p
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName)
                .RequireAuthenticatedUser()
                .RequireAssertion(ctx => ctx.User.Identity?.AuthenticationType == ApiKeyAuthenticationHandler.SchemeName
                    && ctx.User.FindAll(ApiKeyAuthenticationHandler.ScopeClaim).Any(c => c.Value == ApiKeyScopes.Admin || scopes.Contains(c.Value))));
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
        var v1 = app.MapGroup("/v1").WithTags("OpenAI-compatible").DisableAntiforgery();
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
            .WithErrors(400, 401, 403, 413, 415, 429, 502, 503);
        v1.MapPost("/prompts/{name}/completions", Prompts.PromptCompletionsEndpoint.HandleAsync)
            .ShedsLoad()
            .RequireAuthorization(ApiPolicies.Chat)
            .WithName("CreatePromptCompletion")
            .WithSummary("Chat completion from a managed prompt (answered in the Chat Completions shape)")
            .WithDescription("Renders the tenant's active version of the prompt (or version n) with variables and calls its model alias. "
                + "Errors: 404 prompt_not_found / prompt_version_not_found, 409 prompt_not_active, 400 missing_variable (param names the variable). "
                + "stream: true answers text/event-stream like /v1/chat/completions; the same X-Keystone-* headers apply.")
            .Accepts<Prompts.PromptCompletionRequestDoc>("application/json")
            .Produces<ChatCompletionResponse>(200, "application/json", "text/event-stream")
            .WithErrors(400, 401, 403, 404, 409, 413, 415, 429, 502, 503);
        v1.MapPost("/embeddings", EmbeddingsEndpoint.EmbedAsync)
            .ShedsLoad()
            .RequireAuthorization(ApiPolicies.Embeddings)
            .WithName("CreateEmbeddings")
            .WithSummary("Embeddings (OpenAI Embeddings contract)")
            .WithDescription("input is a string or an array of strings; encoding_format float (default) or base64.")
            .Accepts<EmbeddingRequestDoc>("application/json")
            .Produces<EmbeddingList>()
            .WithErrors(400, 401, 403, 413, 415, 429, 502, 503);
        v1.MapGet("/models", EmbeddingsEndpoint.ModelsAsync)
            .RequireAuthorization(ApiPolicies.ChatOrEmbeddings)
            .WithName("ListModels")
            .WithSummary("The aliases and models this tenant may use")
            .Produces<ModelList>()
            .WithErrors(401, 403);
        v1.MapGet("/models/{**model}", EmbeddingsEndpoint.ModelAsync)
            .RequireAuthorization(ApiPolicies.ChatOrEmbeddings)
            .WithName("RetrieveModel")
            .WithSummary("One alias or model this key may use (OpenAI's retrieve model)")
            .WithDescription("model is an alias (smart) or provider/model (openai/gpt-4o; the slash may be sent as %2F). 404 model_not_found otherwise.")
            .Produces<ModelDto>()
            .WithErrors(401, 403, 404);

        var api = app.MapGroup("/api/v1").WithTags("Keystone").DisableAntiforgery();
        api.MapGet("/calls", TenantDataEndpoints.ListCallsAsync)
            .RequireAuthorization(ApiPolicies.UsageRead)
            .WithName("ListCalls")
            .WithSummary("This tenant's calls, newest first, a page at a time")
            .WithDescription("Query: from, to (ISO 8601, UTC; default the last 30 days), feature, user (end user), model (alias, provider or model), "
                + "status = ok | error | fallback | cancelled | incomplete | cached | rejected, limit (1–200, default 50), cursor (nextCursor of the previous page).")
            .Produces<CallPage>()
            .WithErrors(400, 401, 403);
        api.MapGet("/calls/{traceId}", TenantDataEndpoints.GetCallAsync)
            .RequireAuthorization(ApiPolicies.UsageRead)
            .WithName("GetCall")
            .WithSummary("A recorded call of this tenant, by trace id")
            .WithDescription("Tokens by type, cost (micro-USD) and cost status, provider and model used, attempts, cache status, latency and status. Another tenant's trace id answers 404.")
            .Produces<CallDto>()
            .WithErrors(400, 401, 403, 404);
        api.MapPost("/feedback", TenantDataEndpoints.PostFeedbackAsync)
            .RequireAuthorization(ApiPolicies.Chat)
            .WithName("PostFeedback")
            .WithSummary("Thumbs up or down (and a comment) for a trace")
            .Accepts<FeedbackRequestDoc>("application/json")
            .Produces<FeedbackDto>(201)
            .WithErrors(400, 401, 403, 404, 413, 415);
        api.MapGet("/budgets", TenantDataEndpoints.GetBudgetsAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("GetBudgets")
            .WithSummary("This tenant's caps with spend, reservations and reset times; soft thresholds; action at limit")
            .Produces<BudgetDto>()
            .WithErrors(401, 403);
        api.MapPut("/budgets", TenantDataEndpoints.PutBudgetsAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("PutBudgets")
            .WithSummary("Set caps (replaces the caps named, by scope + key + period; leaves the others), soft thresholds and action at limit")
            .Accepts<BudgetDto>("application/json")
            .Produces<BudgetDto>()
            .WithErrors(400, 401, 403, 413, 415);
        api.MapGet("/keys", KeyManagementEndpoints.ListAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("ListApiKeys")
            .WithSummary("This tenant's API keys (never their secrets): scopes, limits, caps, expiry, rotation, last use")
            .Produces<ApiKeyListDto>()
            .WithErrors(401, 403);
        api.MapPost("/keys", KeyManagementEndpoints.CreateAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("CreateApiKey")
            .WithSummary("Create a key; the answer holds its secret, once")
            .Accepts<NewApiKeyDoc>("application/json")
            .Produces<CreatedApiKeyDto>(201)
            .WithErrors(400, 401, 403, 413, 415);
        api.MapPatch("/keys/{id:guid}", KeyManagementEndpoints.UpdateAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("UpdateApiKey")
            .WithSummary("Change a key's expiry and / or model allow-list (a field present changes, null clears it)")
            .Accepts<UpdateApiKeyDoc>("application/json")
            .Produces<ApiKeyDto>()
            .WithErrors(400, 401, 403, 404, 413, 415);
        api.MapPost("/keys/{id:guid}/rotate", KeyManagementEndpoints.RotateAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("RotateApiKey")
            .WithSummary("Give a key a new secret (in the answer, once); the old one works for overlapSeconds more (default 24 h)")
            .WithDescription("The key keeps its id, caps and their spend, rate limit, scopes, expiry and attribution. The body is optional. A secret replaced by an earlier rotation stops at once.")
            .Accepts<RotateApiKeyDoc>("application/json")
            .Produces<CreatedApiKeyDto>()
            .WithErrors(400, 401, 403, 404, 413, 415);
        api.MapDelete("/keys/{id:guid}", KeyManagementEndpoints.RevokeAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("RevokeApiKey")
            .WithSummary("Revoke a key (every secret it has) for good")
            .Produces(204)
            .WithErrors(401, 403, 404);
        api.MapGet("/cache-settings", CacheSettingsEndpoints.ListAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("ListCacheSettings")
            .WithSummary("How each feature's calls use the caches (the tenant's own settings or the platform's), with the last 30 days' calls, hits and savings")
            .Produces<CacheSettingsListDto>()
            .WithErrors(401, 403);
        api.MapPut("/cache-settings/{**feature}", CacheSettingsEndpoints.PutAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("PutCacheSettings")
            .WithSummary("Set this tenant's own cache settings for a feature (fields left out keep their current value); they replace the platform's for it")
            .WithDescription("Fields: cacheEveryRequest, cacheAtTemperatureZero, semanticCache (each lookup embeds the question: a charged call), semanticThreshold (0.5–1). The next call sees the change.")
            .Accepts<CacheSettingsInputDoc>("application/json")
            .Produces<CacheSettingsDto>()
            .WithErrors(400, 401, 403, 413, 415);
        api.MapDelete("/cache-settings/{**feature}", CacheSettingsEndpoints.DeleteAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("DeleteCacheSettings")
            .WithSummary("Drop this tenant's own settings for a feature: the platform's apply again")
            .Produces(204)
            .WithErrors(401, 403, 404);
        api.MapGet("/provider-keys", ProviderKeyEndpoints.ListAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("ListProviderKeys")
            .WithSummary("This tenant's own provider keys (BYOK), masked to their last four characters, and the providers it may bring a key for")
            .Produces<ProviderKeyListDto>()
            .WithErrors(401, 403);
        api.MapPut("/provider-keys/{provider}", ProviderKeyEndpoints.PutAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("PutProviderKey")
            .WithSummary("Store (or replace) this tenant's key for a provider: encrypted, answered masked; the next calls to that provider use it")
            .Accepts<ProviderKeyInputDoc>("application/json")
            .Produces<ProviderKeyDto>()
            .WithErrors(400, 401, 403, 413, 415);
        api.MapDelete("/provider-keys/{provider}", ProviderKeyEndpoints.DeleteAsync)
            .RequireAuthorization(ApiPolicies.Admin)
            .WithName("DeleteProviderKey")
            .WithSummary("Remove this tenant's key for a provider: its calls use the platform's key again")
            .Produces(204)
            .WithErrors(401, 403, 404);

        app.MapKeystoneOpenApi();
        return app;
    }

    /// <summary>
    /// Counts the route against the in-flight limit. Only the routes that call a model: their time is set by a
    /// provider (seconds, unbounded when one stalls), while the others answer from memory or one query.
    /// </summary>
    private static RouteHandlerBuilder ShedsLoad(this RouteHandlerBuilder builder)
        => builder.WithMetadata(ApiLoadSheddingMiddleware.Marker.Instance);

    private static RouteHandlerBuilder WithErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<ApiErrorBody>(status);
        }

        return builder;
    }
}
