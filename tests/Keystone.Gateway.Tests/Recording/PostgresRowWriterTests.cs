using Keystone.Data.Calls;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>The recorder's PostgreSQL writer stores exactly what EF Core's SaveChanges stores, column by column (decision 69).</summary>
public sealed class PostgresRowWriterTests : IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private Guid _tenant;

    public async Task InitializeAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        _tenant = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "acme");
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task InsertPacked_EveryColumn_StoresTheSameValuesAsSaveChanges()
    {
        var viaEf = Guid.Parse("00000000-0000-7000-8000-000000000001");
        var fast = Guid.Parse("00000000-0000-7000-8000-000000000002");
        await using (var db = _db.CreateFactory().ForSystem())
        {
            db.Calls.Add(RecordedRows.Call(viaEf, _tenant));
            db.Traces.Add(RecordedRows.Trace(viaEf, _tenant));
            await db.SaveChangesAsync();
        }

        await using (var db = _db.CreateFactory().ForSystem())
        {
            PostgresRowWriter.InsertPacked(db, [RecordedRows.Call(fast, _tenant)], [RecordedRows.Trace(fast, _tenant)]);
        }

        await AssertSameRowsAsync("llm_calls", "id", viaEf, fast, skip: ["id", "ingested_utc"]);
        // The packed trace row holds no payload but the pointer; its search vector is the trigger's, as for SaveChanges' row.
        await AssertSameRowsAsync("llm_traces", "call_id", viaEf, fast,
            skip: ["call_id", "request_json", "response_json", "raw_request_json", "raw_response_json", "attempts_json", "pack_id", "pack_slot"]);
        await using var read = _db.CreateFactory().ForTenant(_tenant);
        var back = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == fast);
        var backEf = await read.Calls.AsNoTracking().SingleAsync(c => c.Id == viaEf);
        // PostgreSQL keeps microseconds: both writers' times are the original's truncated alike.
        Assert.Equal((CallStatus.Incomplete, BilledTo.TenantKey, backEf.CreatedUtc), (back.Status, back.BilledTo, back.CreatedUtc));
        Assert.Equal(RecordedRows.Call(fast, _tenant).CreatedUtc.Ticks / 10 * 10, back.CreatedUtc.Ticks);
        Assert.True(back.IngestedUtc > DateTime.UtcNow.AddMinutes(-5), "the database default sets the ingest time");
        var payloads = await TracePayloads.ReadOneAsync(read, fast, raw: true, CancellationToken.None);
        var expected = RecordedRows.Trace(fast, _tenant);
        Assert.Equal((expected.RequestJson, expected.ResponseJson, expected.RawRequestJson, expected.AttemptsJson),
            (payloads!.RequestJson, payloads.ResponseJson, payloads.RawRequestJson, payloads.AttemptsJson));
        Assert.Equal(new[] { fast, viaEf }.Order(), (await read.TraceIdsMatching(["hello"]).ToListAsync()).Order());
    }

    [Fact]
    public async Task InsertPacked_UnderAnotherTenantsScope_IsRefusedByRowLevelSecurityAndLeavesNothing()
    {
        var other = await GatewayHarness.CreateTenantAsync(_db.CreateFactory(), "globex");
        var id = Guid.Parse("00000000-0000-7000-8000-000000000003");
        await using (var db = _db.CreateFactory().ForTenant(other))
        {
            // The recorder writes with the system scope; a tenant's scope may not write another tenant's rows.
            var ex = Assert.ThrowsAny<PostgresException>(() => PostgresRowWriter.InsertPacked(db, [RecordedRows.Call(id, _tenant)], [RecordedRows.Trace(id, _tenant)]));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
        }

        await using var system = _db.CreateFactory().ForSystem();
        Assert.Equal(0, await system.Calls.CountAsync());
        Assert.Equal(0, await system.Set<LlmTracePack>().CountAsync());
    }

    private async Task AssertSameRowsAsync(string table, string key, Guid a, Guid b, string[] skip)
    {
        await using var connection = new NpgsqlConnection(_db.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT * FROM {table} WHERE {key} IN (@a, @b) ORDER BY {key}", connection);
        command.Parameters.AddWithValue("a", a);
        command.Parameters.AddWithValue("b", b);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), $"{table}: the SaveChanges row");
        var first = Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, reader.GetValue);
        Assert.True(await reader.ReadAsync(), $"{table}: the writer's row");
        var second = Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, reader.GetValue);
        foreach (var (column, value) in first.Where(c => !skip.Contains(c.Key)))
        {
            var same = value is byte[] bytes && second[column] is byte[] other ? bytes.AsSpan().SequenceEqual(other) : Equals(value, second[column]);
            Assert.True(same, $"{table}.{column}: SaveChanges stored '{value}', the writer '{second[column]}'");
        }
    }
}
