using Microsoft.AspNetCore.Routing.Template;

namespace Keystone.Web.Features.Api;

/// <summary>
/// The HTTP methods each API route accepts, read once from the app's endpoints, so that a request to a known API
/// path with another method is answered 405 with an <c>Allow</c> header naming the API's methods. Routing alone does
/// not do it here: a console endpoint that takes GET and HEAD on every path is a candidate too, so a GET on a POST
/// route ends in that endpoint's 404, and any other method gets a 405 listing GET and HEAD.
/// </summary>
internal sealed class ApiRouteMethods(EndpointDataSource endpoints)
{
    private readonly Lazy<IReadOnlyList<(TemplateMatcher Matcher, IReadOnlyList<string> Methods)>> _routes = new(() => Build(endpoints));

    /// <summary>The methods some API route accepts at <paramref name="path"/>, sorted; empty when no route has this path.</summary>
    public IReadOnlyList<string> AllowedAt(PathString path)
    {
        var allowed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (matcher, methods) in _routes.Value)
        {
            if (matcher.TryMatch(path, new RouteValueDictionary()))
            {
                allowed.UnionWith(methods);
            }
        }

        return [.. allowed];
    }

    private static List<(TemplateMatcher, IReadOnlyList<string>)> Build(EndpointDataSource endpoints)
    {
        var routes = new List<(TemplateMatcher, IReadOnlyList<string>)>();
        foreach (var endpoint in endpoints.Endpoints.OfType<RouteEndpoint>())
        {
            var raw = "/" + (endpoint.RoutePattern.RawText ?? "").TrimStart('/');
            if (!ApiErrorMiddleware.Applies(raw) || endpoint.Metadata.GetMetadata<IHttpMethodMetadata>() is not { HttpMethods.Count: > 0 } methods)
            {
                continue;
            }

            routes.Add((new TemplateMatcher(TemplateParser.Parse(raw.TrimStart('/')), new RouteValueDictionary()), [.. methods.HttpMethods]));
        }

        return routes;
    }
}
