using Microsoft.AspNetCore.Http.Metadata;

namespace Keystone.Web.Platform.Http;

/// <summary>
/// How a feature maps its part of Keystone's own API (<c>/api/v1</c>): a route group per authorization policy carries
/// the tag, the policy and the error answers every route shares, so each route states only what differs.
/// </summary>
internal static class ApiEndpointConventions
{
    /// <summary>
    /// A route group on <c>/api/v1</c> (tag <c>Keystone</c>; no antiforgery: callers send a bearer key, not a cookie) for
    /// API keys that pass <paramref name="policy"/> (<see cref="ApiPolicies"/>); every route in it documents 401 and 403.
    /// </summary>
    public static RouteGroupBuilder MapKeystoneApiGroup(this IEndpointRouteBuilder app, string policy) => app
        .MapGroup("/api/v1")
        .WithTags("Keystone")
        .DisableAntiforgery()
        .RequireAuthorization(policy)
        .WithSharedErrors(401, 403);

    /// <summary>Documents that the route may answer these statuses with OpenAI's error body (<see cref="ApiErrorBody"/>).</summary>
    public static RouteHandlerBuilder WithErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<ApiErrorBody>(status);
        }

        return builder;
    }

    /// <summary>
    /// Documents these error statuses on every route of the group. They join each route's own errors in status order,
    /// after its success answers, so the OpenAPI document lists a route's answers as if the route had named them all.
    /// </summary>
    public static RouteGroupBuilder WithSharedErrors(this RouteGroupBuilder group, params int[] statuses)
    {
        // Finally: after the route's own conventions, which add its success and its own errors.
        ((IEndpointConventionBuilder)group).Finally(endpoint =>
        {
            var own = endpoint.Metadata.OfType<IProducesResponseTypeMetadata>().Where(m => m.Type == typeof(ApiErrorBody)).ToList();
            foreach (var error in own)
            {
                endpoint.Metadata.Remove(error);
            }

            foreach (var status in own.Select(e => e.StatusCode).Concat(statuses).Distinct().Order())
            {
                endpoint.Metadata.Add(new ProducesResponseTypeMetadata(status, typeof(ApiErrorBody), ["application/json"]));
            }
        });
        return group;
    }
}
