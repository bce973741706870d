namespace Keystone.Web.Platform.Http;

/// <summary>Which requests belong to the HTTP API, whose every error carries OpenAI's error shape.</summary>
internal static class ApiRoutes
{
    /// <summary>True under <c>/v1</c> (OpenAI-compatible) and <c>/api/v1</c> (Keystone's own).</summary>
    public static bool Contains(PathString path) => path.StartsWithSegments("/v1") || path.StartsWithSegments("/api/v1");
}
