using Keystone.Data;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration.Json;

namespace Keystone.Web.Hosting;

/// <summary>Configuration sources and the host-level services that depend on them.</summary>
public static class ConfigurationSetup
{
    /// <summary>
    /// Adds the repository's single <c>appsettings.json</c> (linked into the build output) as the lowest
    /// source, so environment variables (<c>Section__Key</c>) and command-line arguments override it in the
    /// usual order. Also serves static web assets from a plain build, whatever the environment.
    /// </summary>
    public static WebApplicationBuilder AddKeystoneConfiguration(this WebApplicationBuilder builder)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        var alreadyLoaded = builder.Configuration.Sources.OfType<JsonConfigurationSource>()
            .Any(s => s.Path == "appsettings.json" && File.Exists(Path.Combine(builder.Environment.ContentRootPath, "appsettings.json")));
        if (!alreadyLoaded && File.Exists(file))
        {
            var source = new JsonConfigurationSource { Path = file, Optional = true, ReloadOnChange = false };
            source.ResolveFileProvider();
            builder.Configuration.Sources.Insert(0, source);
            // Re-apply the sources so the inserted one is read before the others.
            ((IConfigurationRoot)builder.Configuration).Reload();
        }

        // A plain `dotnet run` is not a Development host; serve the package assets (MudBlazor, Blazor's
        // script) from the build's static-web-assets manifest all the same. A no-op after publish.
        builder.WebHost.UseStaticWebAssets();
        return builder;
    }

    /// <summary>
    /// Data Protection keys (cookies, antiforgery, BYOK secrets) persisted next to the SQLite database,
    /// or under <c>DataProtection:KeysPath</c>, so a restart neither signs people out nor loses secrets.
    /// </summary>
    public static IServiceCollection AddKeystoneDataProtection(this IServiceCollection services, DatabaseOptions database,
        KeystoneConnectionStrings connections)
    {
        var keys = Path.Combine(Path.GetDirectoryName(connections.SqliteFile(database))!, "keys");
        services.AddDataProtection().SetApplicationName("Keystone").PersistKeysToFileSystem(new DirectoryInfo(keys));
        return services;
    }
}
