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

    /// <summary>
    /// The one place the application chooses between its SQLite and PostgreSQL code (docs/architecture.md: two modes,
    /// one code path, one implementation per mode where they differ). Registers <typeparamref name="TService"/> as
    /// <typeparamref name="TSqlite"/> or <typeparamref name="TPostgres"/>, each built by DI with its own dependencies,
    /// for the mode the data layer runs in (<see cref="KeystoneDbFactory.Provider"/>, from the validated
    /// <c>Database:Provider</c>), so that no feature or gateway class asks which database it runs on.
    /// </summary>
    public static IServiceCollection AddPerDatabase<TService, TSqlite, TPostgres>(this IServiceCollection services,
        ServiceLifetime lifetime = ServiceLifetime.Singleton)
        where TService : class
        where TSqlite : class, TService
        where TPostgres : class, TService
    {
        services.Add(new ServiceDescriptor(typeof(TService), sp => sp.GetRequiredService<KeystoneDbFactory>().Provider switch
        {
            DatabaseProvider.Sqlite => ActivatorUtilities.CreateInstance<TSqlite>(sp),
            DatabaseProvider.Postgres => ActivatorUtilities.CreateInstance<TPostgres>(sp),
            var other => throw new InvalidOperationException($"No implementation of {typeof(TService).Name} for Database:Provider={other}."),
        }, lifetime));
        return services;
    }
}
