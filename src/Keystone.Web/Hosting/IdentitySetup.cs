using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Identity;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Identity;

namespace Keystone.Web.Hosting;

/// <summary>ASP.NET Core Identity with EF stores, cookie sign-in, lockout, and the role policies.</summary>
internal static class IdentitySetup
{
    public static IServiceCollection AddKeystoneIdentity(this IServiceCollection services)
    {
        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, Components.Account.RevalidatingAuthenticationStateProvider>();

        services.AddAuthentication(o =>
            {
                o.DefaultScheme = IdentityConstants.ApplicationScheme;
                o.DefaultSignInScheme = IdentityConstants.ExternalScheme;
            })
            .AddIdentityCookies();

        services.AddIdentityCore<KeystoneUser>(o =>
            {
                o.SignIn.RequireConfirmedAccount = false;
                o.User.RequireUniqueEmail = true;
                o.Password.RequiredLength = 10;
                o.Password.RequireNonAlphanumeric = false;
                o.Lockout.AllowedForNewUsers = true;
                o.Lockout.MaxFailedAccessAttempts = 5;
                o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(5);
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<KeystoneDbContext>()
            .AddSignInManager()
            .AddClaimsPrincipalFactory<KeystoneClaimsPrincipalFactory>()
            .AddDefaultTokenProviders();

        services.ConfigureApplicationCookie(o =>
        {
            o.LoginPath = "/Account/Login";
            o.LogoutPath = "/Account/Logout";
            o.AccessDeniedPath = "/Account/AccessDenied";
            o.Cookie.Name = "keystone.auth";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.SlidingExpiration = true;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.Events = new CookieAuthenticationEvents
            {
                // A signed-in user without the role gets a real 403 (rendered by the status page), not a redirect.
                OnRedirectToAccessDenied = ctx =>
                {
                    ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return Task.CompletedTask;
                },
                OnRedirectToLogin = ctx =>
                {
                    if (IsApi(ctx.Request))
                    {
                        ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        return Task.CompletedTask;
                    }

                    ctx.Response.Redirect(ctx.RedirectUri);
                    return Task.CompletedTask;
                },
            };
        });

        services.AddOptionsWithValidateOnStart<Components.Account.SignInThrottleOptions>()
            .BindConfiguration(Components.Account.SignInThrottleOptions.SectionName).ValidateDataAnnotations();
        services.AddSingleton<Components.Account.SignInThrottle>();

        services.AddAuthorizationBuilder().AddKeystonePolicies();
        return services;
    }

    internal static bool IsApi(HttpRequest request) => request.Path.StartsWithSegments("/api")
        || request.Path.StartsWithSegments("/v1");
}
