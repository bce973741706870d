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

    /// <summary>
    /// Gives an error status of a console request other than GET/HEAD a plain page; call right after the status-code
    /// pages. Those re-execute the request with its own method on <c>/error/{code}</c>, a page that only answers GET
    /// (and POST as a form), so a <c>DELETE /x</c> got an empty 405 and a POST an antiforgery refusal instead of its status.
    /// </summary>
    public static IApplicationBuilder UseNonGetErrorPages(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        await next(http);
        if (http.Response is { HasStarted: false, StatusCode: >= 400 } response && response.ContentLength is null
            && string.IsNullOrEmpty(response.ContentType) && !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)
            && !ApiRoutes.IsAddressedTo(http.Request))
        {
            await WriteAsync(http, response.StatusCode, $"{response.StatusCode} — that did not work",
                response.StatusCode switch
                {
                    404 => "There is nothing at this address.",
                    405 => $"{http.Request.Method} is not allowed here.",
                    _ => "The request could not be completed. Go back and try again.",
                });
        }
    });

    /// <summary>Writes <paramref name="status"/> with a plain page, or the API's error shape on API routes.</summary>
    public static async Task WriteAsync(HttpContext http, int status, string title, string message)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        if (ApiRoutes.IsAddressedTo(http.Request))
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
    /// Any other exception of a console request other than GET/HEAD gets a plain 500 page here. Only in the
    /// non-development pipeline, where <c>UseExceptionHandler</c> runs; the developer page shows the same status.
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
            if (http.Response.HasStarted)
            {
                return false;
            }

            if (status == 0)
            {
                if (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || ApiRoutes.IsAddressedTo(http.Request))
                {
                    return false; // the /Error page (or, on the API, its own 500 in the error shape)
                }

                // Re-executing /Error with this POST would run the form checks again (a 400 for a 500); answer here.
                // The exception handler has logged the exception already.
                await WriteAsync(http, 500, "Something went wrong",
                    $"The error was logged with request id {http.TraceIdentifier}. Nothing may have been saved: check, then try again; if it keeps happening, quote the request id to support.");
                return true;
            }

            await WriteAsync(http, status, status == 413 ? "That request is too large" : "That request could not be read",
                status == 413
                    ? "The request body is larger than this server accepts. Nothing was changed."
                    : "The server could not read the request (its framing, headers or form were malformed). Nothing was changed; go back and try again.");
            return true;
        }
    }
}
