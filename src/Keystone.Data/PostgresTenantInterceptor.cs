using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace Keystone.Data;

/// <summary>
/// Tells PostgreSQL which tenant a unit of work belongs to, so the forced row-level-security policies filter every
/// query. A unit of work here is one connection lease of one context: EF opens the connection for a query, a
/// SaveChanges or an explicit transaction and closes it after. The settings are written for the session when the lease
/// starts (one round trip, which also carries the pool's reset of the lease before). They are not cleared by a round
/// trip of their own when the lease ends: Npgsql resets a pooled connection on its return to the pool (<c>DISCARD
/// ALL</c>, or <c>RESET ALL</c> when statements are prepared), sent in front of the next lease's first command, so the
/// next lease starts with no tenant whoever takes it; <see cref="KeystoneConnectionStrings.Pooled"/> keeps that reset
/// on, an unpooled connection ends its session on close, and a pool whose reset was turned off by hand is still cleared
/// by a round trip at the lease's end. A transaction on a connection this interceptor did not
/// open (one opened by hand and given to EF) gets the settings transaction-locally instead.
/// See docs/decisions/0006-tenant-isolation.md and 0062-postgres-tenant-lease-and-budget-ledger-in-fewer-round-trips.md.
/// </summary>
internal sealed class PostgresTenantInterceptor : DbConnectionInterceptor
{
    public static readonly PostgresTenantInterceptor Instance = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        var context = eventData.Context as KeystoneDbContext;
        Apply(connection, ScopeOf(context), isLocal: false);
        MarkApplied(context, connection);
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData,
        CancellationToken cancellationToken = default)
    {
        var context = eventData.Context as KeystoneDbContext;
        await ApplyAsync(connection, null, ScopeOf(context), isLocal: false, cancellationToken);
        MarkApplied(context, connection);
    }

    public override InterceptionResult ConnectionClosing(DbConnection connection, ConnectionEventData eventData,
        InterceptionResult result)
    {
        Forget(eventData.Context as KeystoneDbContext);
        if (connection.State == System.Data.ConnectionState.Open && !ResetsOnClose(connection.ConnectionString))
        {
            Apply(connection, TenantScope.None, isLocal: false);
        }

        return result;
    }

    public override async ValueTask<InterceptionResult> ConnectionClosingAsync(DbConnection connection,
        ConnectionEventData eventData, InterceptionResult result)
    {
        Forget(eventData.Context as KeystoneDbContext);
        if (connection.State == System.Data.ConnectionState.Open && !ResetsOnClose(connection.ConnectionString))
        {
            // A pool whose reset was turned off by hand ("No Reset On Close") would hand this lease's tenant to the next
            // one: clear it here, as every lease did before the reset was relied on.
            await ApplyAsync(connection, null, TenantScope.None, isLocal: false, CancellationToken.None);
        }

        return result;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Resets = new(StringComparer.Ordinal);

    /// <summary>Whether a connection of this string is reset when it goes back to the pool (or is not pooled at all).</summary>
    internal static bool ResetsOnClose(string connectionString) => Resets.GetOrAdd(connectionString, static s =>
    {
        var builder = new NpgsqlConnectionStringBuilder(s);
        return !builder.Pooling || !builder.NoResetOnClose;
    });

    private static TenantScope ScopeOf(DbContext? context) => (context as KeystoneDbContext)?.Scope ?? TenantScope.None;

    /// <summary>Remembers that this lease's session carries the context's scope, so its transactions need not set it again.</summary>
    private static void MarkApplied(KeystoneDbContext? context, DbConnection connection)
    {
        if (context is not null)
        {
            context.TenantAppliedTo = connection;
        }
    }

    private static void Forget(KeystoneDbContext? context)
    {
        if (context is not null)
        {
            context.TenantAppliedTo = null;
        }
    }

    private static void Apply(DbConnection connection, TenantScope scope, bool isLocal)
    {
        using var command = Build(connection, null, scope, isLocal);
        command.ExecuteNonQuery();
    }

    internal static async Task ApplyAsync(DbConnection connection, DbTransaction? transaction, TenantScope scope,
        bool isLocal, CancellationToken ct)
    {
        await using var command = Build(connection, transaction, scope, isLocal);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static DbCommand Build(DbConnection connection, DbTransaction? transaction, TenantScope scope, bool isLocal)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            "SELECT set_config('app.tenant_id', @tenant, @local), set_config('app.all_tenants', @all, @local)";
        Add(command, "tenant", scope.TenantId?.ToString() ?? "");
        Add(command, "all", scope.AllTenants ? "on" : "off");
        Add(command, "local", isLocal);
        return command;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }

    /// <summary>
    /// A command for the first place of an <see cref="NpgsqlBatch"/> that sets <paramref name="scope"/> for the batch's
    /// transaction only (<c>set_config(…, true)</c>, as <c>SET LOCAL</c>): with a connection opened outside EF (so this
    /// interceptor does not run), the batch's statements see the tenant and nothing after the transaction does, also when
    /// it fails. One round trip instead of the lease's own.
    /// </summary>
    public static NpgsqlBatchCommand TransactionSettings(TenantScope scope)
    {
        var command = new NpgsqlBatchCommand("SELECT set_config('app.tenant_id', @tenant, true), set_config('app.all_tenants', @all, true)");
        command.Parameters.Add(new NpgsqlParameter("tenant", scope.TenantId?.ToString() ?? ""));
        command.Parameters.Add(new NpgsqlParameter("all", scope.AllTenants ? "on" : "off"));
        return command;
    }
}

/// <summary>
/// Sets the tenant transaction-locally at the start of an explicit transaction on a connection whose session the
/// interceptor above did not set (opened outside EF and handed to it); on a lease it opened, the session already
/// carries the scope and a second round trip would add nothing.
/// </summary>
internal sealed class PostgresTenantTransactionInterceptor : DbTransactionInterceptor
{
    public static readonly PostgresTenantTransactionInterceptor Instance = new();

    public override DbTransaction TransactionStarted(DbConnection connection, TransactionEndEventData eventData,
        DbTransaction result)
    {
        if (NeedsSetting(connection, eventData.Context))
        {
            PostgresTenantInterceptor.ApplyAsync(connection, result, (eventData.Context as KeystoneDbContext)?.Scope ?? TenantScope.None,
                isLocal: true, CancellationToken.None).GetAwaiter().GetResult();
        }

        return result;
    }

    public override async ValueTask<DbTransaction> TransactionStartedAsync(DbConnection connection,
        TransactionEndEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        if (NeedsSetting(connection, eventData.Context))
        {
            await PostgresTenantInterceptor.ApplyAsync(connection, result,
                (eventData.Context as KeystoneDbContext)?.Scope ?? TenantScope.None, isLocal: true, cancellationToken);
        }

        return result;
    }

    private static bool NeedsSetting(DbConnection connection, DbContext? context)
        => context is not KeystoneDbContext keystone || !ReferenceEquals(keystone.TenantAppliedTo, connection);
}
