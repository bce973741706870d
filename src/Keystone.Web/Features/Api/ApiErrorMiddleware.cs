using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Diagnostics;

namespace Keystone.Web.Features.Api;

/// <summary>
/// Gives every answer under <c>/v1</c> and <c>/api/v1</c> OpenAI's error shape: exceptions become their
/// status with a machine-readable code, bare error statuses (404 for an unknown route, 405) get a body,
/// and the console's HTML status pages are switched off for these routes.
/// </summary>
internal sealed class ApiErrorMiddleware(RequestDelegate next, ApiRouteMethods routes, TimeProvider time, ILogger<ApiErrorMiddleware> log)
{
    public async Task InvokeAsync(HttpContext http)
    {
        if (http.Features.Get<IStatusCodePagesFeature>() is { } pages)
        {
            pages.Enabled = false;
        }

        // Every answer, refusals included, names its request like OpenAI's (x-request-id); the id carries the trace id
        // the request's call will get, so support finds the call from whichever of the two the customer quotes.
        var traceId = CallIds.NewVersion7(time.GetUtcNow());
        http.Items[ApiHttp.TraceIdItem] = traceId;
        http.TraceIdentifier = CallIds.RequestIdOf(traceId);
        http.Response.Headers["x-request-id"] = http.TraceIdentifier;

        if (!ApiRoutes.Contains(http.Request.Path))
        {
            // Addressed to the API, but normalized out of it (dot segments, doubled slashes): no API route answers it,
            // and the console's page for that path is not what an API client asked for.
            await ApiErrors.WriteAsync(http, 404, ApiErrors.NotFound,
                $"There is no {http.Request.Method} {http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? http.Request.Path.Value} in this API.");
            return;
        }

        try
        {
            await next(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The caller went away; there is nobody to answer.
            return;
        }
        catch (ApiException ex)
        {
            await ApiErrors.WriteAsync(http, ex.Status, ex.Code, ex.Message, ex.Param, ex.RetryAfter);
            return;
        }
        catch (GatewayException ex)
        {
            if (ex.Outcome is { } outcome && !http.Response.HasStarted)
            {
                ApiHttp.SetOutcomeHeaders(http.Response, outcome, includeCost: true);
            }

            await ApiHttp.WriteErrorAsync(http, ex.Error);
            return;
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own limits (body too large, bad framing) surface here.
            var status = ex.StatusCode is >= 400 and < 500 ? ex.StatusCode : 400;
            var code = status == 413 ? ApiErrors.RequestTooLarge : GatewayErrorCodes.InvalidRequest;
            await ApiErrors.WriteAsync(http, status, code, status == 413 ? "The request body is larger than this server accepts." : "The request could not be read.");
            return;
        }
        catch (JsonException)
        {
            await ApiErrors.WriteAsync(http, 400, GatewayErrorCodes.InvalidRequest, "The request body is not valid JSON.");
            return;
        }
        catch (Exception ex) when (!http.Response.HasStarted && DatabaseErrors.IsBusy(ex))
        {
            // Every pooled connection stayed busy for Database:PoolTimeout (or the server had no slot): the request was
            // not served, and trying again shortly is the right move, so it is a 503 like the load shedder's, not a 500.
            log.LogWarning(ex, "Database busy on {Method} {Path}", http.Request.Method, http.Request.Path.Value);
            await ApiErrors.WriteAsync(http, 503, ApiErrors.DatabaseBusy,
                "The database has no connection free for this request right now. Try again in a moment.", retryAfter: TimeSpan.FromSeconds(1));
            return;
        }
        catch (Exception ex) when (!http.Response.HasStarted)
        {
            log.LogError(ex, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path.Value);
            await ApiErrors.WriteAsync(http, 500, ApiErrors.InternalError, "Keystone could not answer this request; the error was logged.");
            return;
        }

        if (http.Response is { HasStarted: false, StatusCode: >= 400 } response && response.ContentLength is null && string.IsNullOrEmpty(response.ContentType))
        {
            if (response.StatusCode is 404 or 405)
            {
                // The console's catch-all GET/HEAD endpoint is a candidate for every path, so routing alone answers
                // 404 (GET on a POST route) or 405 with the wrong Allow (any path). Decide from the API's own routes.
                var allowed = routes.AllowedAt(http.Request.Path);
                if (allowed.Count == 0)
                {
                    response.StatusCode = 404;
                    response.Headers.Remove("Allow");
                }
                else if (!allowed.Contains(http.Request.Method, StringComparer.OrdinalIgnoreCase))
                {
                    response.StatusCode = 405;
                    response.Headers.Allow = string.Join(", ", allowed);
                }
            }

            var (code, message) = response.StatusCode switch
            {
                404 => (ApiErrors.NotFound, $"There is no {http.Request.Method} {http.Request.Path} in this API."),
                405 => (ApiErrors.MethodNotAllowed, $"{http.Request.Method} is not allowed on {http.Request.Path}."),
                413 => (ApiErrors.RequestTooLarge, "The request body is larger than this server accepts."),
                415 => (ApiErrors.UnsupportedMediaType, "Send the body as application/json."),
                401 => (GatewayErrorCodes.InvalidApiKey, "Missing or invalid API key."),
                403 => (ApiErrors.InsufficientScope, "This API key may not do that."),
                _ => (GatewayErrorCodes.InvalidRequest, "The request could not be served."),
            };
            await ApiErrors.WriteAsync(http, response.StatusCode, code, message);
        }
    }

    /// <summary>True for the routes this middleware shapes: those under the API, and those a client addressed to it.</summary>
    public static bool Applies(HttpRequest request) => ApiRoutes.IsAddressedTo(request);

    /// <inheritdoc cref="Applies(HttpRequest)"/>
    public static bool Applies(PathString path) => ApiRoutes.Contains(path);
}
