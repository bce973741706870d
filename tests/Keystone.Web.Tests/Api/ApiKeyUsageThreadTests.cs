using System.Net;
using System.Net.Http.Headers;
using Keystone.Testing;
using Keystone.Web.Features.Keys;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// Issue 26: the API keys' last-used times are written on a thread of their own, never on a thread-pool thread. On SQLite
/// every "async" database call runs synchronously, and an update that meets the write lock (the call recorder's batches,
/// the trace indexer's passes) sleeps 150 ms in Microsoft.Data.Sqlite's busy loop on the calling thread, which on a pool
/// thread stalls every request in flight (decision 0059). SQLite only: PostgreSQL's calls hold no thread while they wait.
/// </summary>
public sealed class ApiKeyUsageThreadTests
{
    private static bool IsLastUsedWrite(string sql) => sql.StartsWith("UPDATE", StringComparison.Ordinal) && sql.Contains("last_used_utc", StringComparison.Ordinal);

    [Fact]
    public async Task LastUsed_BackgroundFlush_RunsOnItsOwnThreadNotThePool()
    {
        await using var app = new KeystoneAppFactory().WithSetting("ApiKeys:LastUsedFlushInterval", "00:00:00.100");
        using var commands = new DatabaseCommandThreads(app.DataDirectory);
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", KeystoneAppFactory.DemoApiKey);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);
        var writes = await commands.WaitForAsync(IsLastUsedWrite, TimeSpan.FromSeconds(30));

        Assert.All(writes, w =>
        {
            Assert.False(w.PoolThread, "a last-used write ran on a thread-pool thread");
            Assert.Equal(ApiKeyUsageTracker.FlushThreadName, w.ThreadName);
        });
        await using var db = app.CreateSystemDb();
        Assert.True(await db.ApiKeys.AnyAsync(k => k.LastUsedUtc != null), "the write stored the key's last use");
    }
}
