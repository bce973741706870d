using System.Net;
using Keystone.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Shared;

/// <summary>
/// The in-process app, where each test client says which address its connection comes from (the test server has none):
/// the <see cref="Header"/> is read before the app's own pipeline, as a connection's address is there before any middleware.
/// </summary>
internal sealed class ConnectionAddressedApp : KeystoneAppFactory
{
    /// <summary>The request header that carries the connection's address in tests.</summary>
    public const string Header = "X-Test-Connection-Address";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IStartupFilter, AddressFromHeader>());
    }

    private sealed class AddressFromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((http, nextMiddleware) =>
            {
                if (IPAddress.TryParse(http.Request.Headers[Header].ToString(), out var address))
                {
                    http.Connection.RemoteIpAddress = address;
                }

                return nextMiddleware(http);
            });
            next(app);
        };
    }
}
