using Keystone.Data;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Configuration.Json;

namespace Keystone.Web.Hosting;

/// <summary>Configuration sources and the host-level services that depend on them.</summary>
internal static class ConfigurationSetup
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
    /// Data Protection keys (cookies, antiforgery, BYOK secrets), kept so that a restart neither signs people out nor
    /// loses secrets: next to the SQLite database in the embedded mode (one instance; backing up <c>data/</c> backs up
    /// both), in the shared database with PostgreSQL, where every instance must open what another protected
    /// (decision 21; keys left in the folder by an earlier version are imported once).
    /// </summary>
    public static IServiceCollection AddKeystoneDataProtection(this IServiceCollection services, DatabaseOptions database,
        KeystoneConnectionStrings connections)
    {
        var keys = Path.Combine(Path.GetDirectoryName(connections.SqliteFile(database))!, "keys");
        var builder = services.AddDataProtection().SetApplicationName("Keystone");
        if (database.Provider == DatabaseProvider.Postgres)
        {
            services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
                o.XmlRepository = new DatabaseXmlRepository(sp.GetRequiredService<KeystoneDbFactory>(), keys,
                    sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<DatabaseXmlRepository>>())));
        }
        else
        {
            builder.PersistKeysToFileSystem(new DirectoryInfo(keys));
        }

        return services;
    }
}
