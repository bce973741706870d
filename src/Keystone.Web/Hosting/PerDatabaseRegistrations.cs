using Keystone.Data;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Hosting;

/// <summary>
/// The one place the web app chooses between its SQLite and PostgreSQL code (DESIGN.md: two modes, one code path, one
/// implementation per mode where they differ). A feature registers both implementations of an interface here, and the
/// validated <c>Database:Provider</c> picks one when the service is first built; no feature class asks which database
/// it runs on.
/// </summary>
public static class PerDatabaseRegistrations
{
    /// <summary>
    /// Registers <typeparamref name="TService"/> as <typeparamref name="TSqlite"/> in the embedded mode and as
    /// <typeparamref name="TPostgres"/> with <c>Database:Provider=Postgres</c>, each built by DI with its own
    /// dependencies. Singleton unless <paramref name="lifetime"/> says otherwise.
    /// </summary>
    public static IServiceCollection AddPerDatabase<TService, TSqlite, TPostgres>(this IServiceCollection services,
        ServiceLifetime lifetime = ServiceLifetime.Singleton)
        where TService : class
        where TSqlite : class, TService
        where TPostgres : class, TService
    {
        services.Add(new ServiceDescriptor(typeof(TService), sp => sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider switch
        {
            DatabaseProvider.Sqlite => ActivatorUtilities.CreateInstance<TSqlite>(sp),
            DatabaseProvider.Postgres => ActivatorUtilities.CreateInstance<TPostgres>(sp),
            var other => throw new InvalidOperationException($"No implementation of {typeof(TService).Name} for Database:Provider={other}."),
        }, lifetime));
        return services;
    }
}
