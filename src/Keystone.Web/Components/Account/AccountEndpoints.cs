using Keystone.Data.Identity;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace Keystone.Web.Components.Account;

/// <summary>Account actions that are plain posts: sign-out needs the HTTP response to clear the cookie.</summary>
internal static class AccountEndpoints
{
    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/Account/Logout", async (SignInManager<KeystoneUser> signIn, [FromForm] string? returnUrl) =>
        {
            await signIn.SignOutAsync();
            return TypedResults.LocalRedirect("/Account/Login" + (string.IsNullOrEmpty(returnUrl) || returnUrl == "/" ? "" : "?returnUrl=" + Uri.EscapeDataString(Login.SafeReturnUrl(returnUrl))));
        });
        app.MapTenantSwitch();
        return app;
    }
}
