using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Keystone.Data;

/// <summary>
/// Tells PostgreSQL which tenant a unit of work belongs to, so the forced row-level-security policies
/// filter every query. A unit of work here is one connection lease of one context: EF opens the
/// connection for a query, a SaveChanges or an explicit transaction and closes it after. The settings
/// are written when the lease starts and cleared when it ends, and inside a transaction they are also
/// set transaction-locally, so a pooled connection never carries one tenant into another's work
/// (Npgsql's reset on return to the pool clears them a third time). See docs/decisions/0006-tenant-isolation.md.
/// </summary>
internal sealed class PostgresTenantInterceptor : DbConnectionInterceptor
{
    public static readonly PostgresTenantInterceptor Instance = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        => Apply(connection, ScopeOf(eventData.Context), isLocal: false);

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData,
        CancellationToken cancellationToken = default)
        => await ApplyAsync(connection, null, ScopeOf(eventData.Context), isLocal: false, cancellationToken);

    public override InterceptionResult ConnectionClosing(DbConnection connection, ConnectionEventData eventData,
        InterceptionResult result)
    {
        if (connection.State == System.Data.ConnectionState.Open)
        {
            Apply(connection, TenantScope.None, isLocal: false);
        }

        return result;
    }

    public override async ValueTask<InterceptionResult> ConnectionClosingAsync(DbConnection connection,
        ConnectionEventData eventData, InterceptionResult result)
    {
        if (connection.State == System.Data.ConnectionState.Open)
        {
            await ApplyAsync(connection, null, TenantScope.None, isLocal: false, CancellationToken.None);
        }

        return result;
    }

    private static TenantScope ScopeOf(DbContext? context) => (context as KeystoneDbContext)?.Scope ?? TenantScope.None;

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
}

/// <summary>Sets the tenant transaction-locally at the start of every explicit transaction.</summary>
internal sealed class PostgresTenantTransactionInterceptor : DbTransactionInterceptor
{
    public static readonly PostgresTenantTransactionInterceptor Instance = new();

    public override DbTransaction TransactionStarted(DbConnection connection, TransactionEndEventData eventData,
        DbTransaction result)
    {
        PostgresTenantInterceptor.ApplyAsync(connection, result, (eventData.Context as KeystoneDbContext)?.Scope ?? TenantScope.None,
            isLocal: true, CancellationToken.None).GetAwaiter().GetResult();
        return result;
    }

    public override async ValueTask<DbTransaction> TransactionStartedAsync(DbConnection connection,
        TransactionEndEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        await PostgresTenantInterceptor.ApplyAsync(connection, result,
            (eventData.Context as KeystoneDbContext)?.Scope ?? TenantScope.None, isLocal: true, cancellationToken);
        return result;
    }
}
