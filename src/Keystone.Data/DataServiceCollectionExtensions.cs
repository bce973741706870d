using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Data;

/// <summary>Registers the data layer: options, the tenant-scoped context factories and the migrator.</summary>
public static class DataServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="KeystoneDbFactory"/> (singleton, explicit scope), the scoped
    /// <c>IDbContextFactory&lt;KeystoneDbContext&gt;</c> (the caller's tenant scope), a scoped
    /// <see cref="KeystoneDbContext"/> for Identity's stores, and <see cref="DatabaseMigrator"/>.
    /// </summary>
    public static IServiceCollection AddKeystoneData(this IServiceCollection services, KeystoneConnectionStrings connections)
    {
        services.AddSingleton(connections);
        services.AddSingleton<KeystoneDbFactory>();
        services.AddScoped<IDbContextFactory<KeystoneDbContext>, ScopedKeystoneDbContextFactory>();
        // Identity's stores need a context per request; users and roles are not tenant-owned, and the
        // memberships they read go through the caller's scope like everything else.
        services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<KeystoneDbContext>>().CreateDbContext());
        services.AddSingleton<DatabaseMigrator>();
        return services;
    }
}
