using System.Globalization;
using Keystone.Web.Platform.Http;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Api;

/// <summary>
/// Caps the requests in flight on endpoints marked with <see cref="Marker"/> (the model-calling routes): beyond
/// <see cref="ApiOptions.MaxConcurrentRequests"/> a request is answered 503 <c>server_overloaded</c> with
/// <c>Retry-After: 1</c> at once, before its body is read or any provider is called. Runs after authorization, so a
/// request without a valid key (401/403) never takes a slot.
/// </summary>
internal sealed class ApiLoadSheddingMiddleware(RequestDelegate next, ApiLoadShedder shedder, IOptionsMonitor<ApiOptions> options)
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    public Task InvokeAsync(HttpContext http)
    {
        // Not async: every other request (console, static files, the data API) passes without a state machine.
        if (http.GetEndpoint()?.Metadata.GetMetadata<Marker>() is null)
        {
            return next(http);
        }

        var limit = options.CurrentValue.MaxConcurrentRequests;
        return shedder.TryEnter(limit) ? HoldAsync(http) : RefuseAsync(http, limit);
    }

    private async Task HoldAsync(HttpContext http)
    {
        try
        {
            // A stream is written inside next(), so its slot is held until the last event (or the caller leaving).
            await next(http);
        }
        finally
        {
            // The one place a slot is given back: a throw, a cancelled caller and a normal end all pass here once.
            shedder.Exit();
        }
    }

    private Task RefuseAsync(HttpContext http, int limit)
    {
        shedder.RecordShed(limit);
        return ApiErrors.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, ApiErrors.ServerOverloaded,
            string.Create(CultureInfo.InvariantCulture, $"Keystone is at its limit of {limit:N0} concurrent requests. Retry in a moment."),
            retryAfter: RetryAfter);
    }

    /// <summary>Endpoint metadata: this route calls a model and counts against the in-flight limit.</summary>
    internal sealed class Marker
    {
        public static readonly Marker Instance = new();

        private Marker()
        {
        }
    }
}
