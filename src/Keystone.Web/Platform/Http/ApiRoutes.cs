using Microsoft.AspNetCore.Http.Features;

namespace Keystone.Web.Platform.Http;

/// <summary>Which requests belong to the HTTP API, whose every error carries OpenAI's error shape.</summary>
internal static class ApiRoutes
{
    /// <summary>True under <c>/v1</c> (OpenAI-compatible) and <c>/api/v1</c> (Keystone's own).</summary>
    public static bool Contains(PathString path) => path.StartsWithSegments("/v1") || path.StartsWithSegments("/api/v1");

    /// <summary>
    /// True when the client meant the API: the path is under it, or the request target as sent was before the server
    /// normalized it (<c>/v1/%2e%2e/x</c> becomes <c>/x</c>), or it only differs by extra leading slashes
    /// (<c>//v1/models</c>, a base URL with a trailing slash). Such a request gets the API's error shape, not a console page.
    /// </summary>
    public static bool IsAddressedTo(HttpRequest request)
    {
        if (Contains(request.Path))
        {
            return true;
        }

        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        return Loosely(request.Path.Value) || Loosely(raw);
    }

    private static bool Loosely(string? target)
    {
        if (string.IsNullOrEmpty(target) || target[0] != '/')
        {
            return false;
        }

        var trimmed = "/" + target.TrimStart('/');
        var end = trimmed.IndexOfAny(['?', '#']);
        return Contains(new PathString(end < 0 ? trimmed : trimmed[..end]));
    }
}
