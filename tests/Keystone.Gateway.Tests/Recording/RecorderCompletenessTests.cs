using Keystone.Gateway.Tests.Pipeline;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Tests.Recording;

/// <summary>Every completed call is stored, including the ones still queued when the host stops.</summary>
public sealed class RecorderCompletenessTests
{
    private const int Calls = 10_000;

    [Fact]
    public async Task Record_10000CallsAtLoadThenGracefulStop_EveryCallHasItsRowAndTrace()
    {
        await using var db = await SqliteTestDatabase.CreateAsync();
        var tenant = await GatewayHarness.CreateTenantAsync(db.CreateFactory(), "load");
        var gateway = await GatewayHarness.CreateAsync(db.CreateFactory());
        var completed = 0;
        var next = -1;

        var workers = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < Calls)
            {
                var i = next;
                var context = new CallContext { TenantId = tenant, Feature = "load", EndUser = "user-" + (i % 50) };
                var request = GatewayHarness.Chat("Call number " + i, maxTokens: 16);
                if (i % 4 == 0)
                {
                    await gateway.StreamAllAsync(request, context);
                }
                else
                {
                    await gateway.Gateway.CompleteAsync(request, context, CancellationToken.None);
                }

                Interlocked.Increment(ref completed);
            }
        })).ToList();
        await Task.WhenAll(workers);
        // No flush first: stopping the host must drain whatever is still queued.
        await gateway.Recorder.StopAsync(CancellationToken.None);
        var lost = gateway.Recorder.Lost;
        await gateway.Services.DisposeAsync();

        await using var read = db.CreateFactory().ForTenant(tenant);
        Assert.Equal(Calls, completed);
        Assert.Equal(0, lost);
        Assert.Equal(completed, await read.Calls.CountAsync());
        Assert.Equal(completed, await read.Traces.CountAsync());
        Assert.Equal(completed, await read.Calls.Select(c => c.RequestId).Distinct().CountAsync());
    }
}
