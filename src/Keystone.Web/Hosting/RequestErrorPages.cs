using System.Net;
using System.Text;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Diagnostics;

namespace Keystone.Web.Hosting;

/// <summary>
/// Answers for requests that are refused before their endpoint can run: a form post without a valid antiforgery token,
/// and a request the server cannot read (<see cref="BadHttpRequestException"/>: bad framing, a body over the limit, a
/// form it cannot parse). They get their 4xx with a short plain page, or OpenAI's error shape under <c>/v1</c> and
/// <c>/api/v1</c> — never a 500. Both the normal pipeline and the status-code pages would re-execute a console page with
/// the same POST, which fails the same check again and left an empty 500 (or an empty 400) in Production.
/// </summary>
internal static class RequestErrorPages
{
    /// <summary>Registers the exception handler for unreadable requests (it runs inside <c>UseExceptionHandler</c>).</summary>
    public static IServiceCollection AddKeystoneRequestErrors(this IServiceCollection services)
        => services.AddExceptionHandler<BadRequestExceptionHandler>();

    /// <summary>
    /// Refuses a form post whose antiforgery token failed validation before its endpoint reads the form; call right
    /// after <c>UseAntiforgery</c> (which validates and records the result, but leaves the refusal to the endpoint).
    /// </summary>
    public static IApplicationBuilder UseAntiforgeryRefusals(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (http.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
        {
            await WriteAsync(http, 400, "That form could not be accepted",
                "The form was sent without its security token, or with one that has expired (for example after a sign-out in another tab). "
                + "Nothing was changed. Go back, reload the page and send the form again.");
            return;
        }

        await next(http);
    });

    /// <summary>Writes <paramref name="status"/> with a plain page, or the API's error shape on API routes.</summary>
    public static async Task WriteAsync(HttpContext http, int status, string title, string message)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        if (ApiRoutes.Contains(http.Request.Path))
        {
            var code = status == 413 ? ApiErrors.RequestTooLarge : Keystone.Gateway.GatewayErrorCodes.InvalidRequest;
            await ApiErrors.WriteAsync(http, status, code, message);
            return;
        }

        http.Response.Clear();
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        var body = Encoding.UTF8.GetBytes(
            $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} — Keystone</title></head>"
            + $"<body><h1>{WebUtility.HtmlEncode(title)}</h1><p>{WebUtility.HtmlEncode(message)}</p><p><a href=\"/\">Go to your home page</a></p></body></html>");
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }

    /// <summary>
    /// A request Kestrel or the form reader could not read is the client's error: its own 4xx (400, 413, 408, 431).
    /// Only in the non-development pipeline, where <c>UseExceptionHandler</c> runs; the developer page shows the same status.
    /// </summary>
    private sealed class BadRequestExceptionHandler : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
        {
            var status = exception switch
            {
                BadHttpRequestException bad when bad.StatusCode is >= 400 and < 500 => bad.StatusCode,
                BadHttpRequestException or AntiforgeryValidationException or InvalidDataException => 400,
                _ => 0,
            };
            if (status == 0 || http.Response.HasStarted)
            {
                return false;
            }

            await WriteAsync(http, status, status == 413 ? "That request is too large" : "That request could not be read",
                status == 413
                    ? "The request body is larger than this server accepts. Nothing was changed."
                    : "The server could not read the request (its framing, headers or form were malformed). Nothing was changed; go back and try again.");
            return true;
        }
    }
}
