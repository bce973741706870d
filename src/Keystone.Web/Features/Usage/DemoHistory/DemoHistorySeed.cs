using Keystone.Web.Platform;
using System.Diagnostics;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Gateway.Pricing;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Usage.DemoHistory;

/// <summary>
/// Records <c>Seed:DemoHistoryDays</c> days of demo traffic by sending it through the real gateway pipeline
/// (alias resolution, budgets, exact cache, fallback chain, pricing, recorder) on simulated providers that
/// answer instantly, with the clock set back per call: every number the dashboards show for the demo is one
/// the product recorded. Runs once, when no call exists; then rolls the calls up so the pages are filled at
/// first sign-in.
/// </summary>
/// <remarks>
/// The pipeline is a private instance built from <c>AddKeystoneGateway</c> with its own fixed configuration,
/// so a configured real provider is never called by the seed. Its <c>smart</c> alias has a second simulated
/// region in front that fails a few percent of requests, which is where the demo's fallbacks come from.
/// </remarks>
internal sealed class DemoHistorySeed(
    KeystoneDbFactory dbFactory,
    IOptions<SeedOptions> seed,
    TimeProvider clock,
    ILoggerFactory loggers,
    UsageRollupJob rollup,
    ILogger<DemoHistorySeed> log) : IDemoSeedStep
{
    /// <summary>After tenants, users and anything else that sets tenants up.</summary>
    public int Order => 100;

    /// <summary>The gateway configuration of the history (instant simulated providers; fallbacks on <c>smart</c>).</summary>
    internal static readonly IReadOnlyDictionary<string, string?> GatewaySettings = new Dictionary<string, string?>
    {
        ["Gateway:Providers:sim:Kind"] = "Simulated",
        ["Gateway:Providers:sim:Simulated:TimeToFirstTokenMs"] = "0",
        ["Gateway:Providers:sim:Simulated:TokensPerSecond"] = "0",
        ["Gateway:Providers:sim-eu:Kind"] = "Simulated",
        ["Gateway:Providers:sim-eu:PriceKey"] = "simulated",
        ["Gateway:Providers:sim-eu:Models:0"] = "sim-smart",
        ["Gateway:Providers:sim-eu:Simulated:TimeToFirstTokenMs"] = "0",
        ["Gateway:Providers:sim-eu:Simulated:TokensPerSecond"] = "0",
        ["Gateway:Providers:sim-eu:Simulated:Fault"] = "ServerError",
        ["Gateway:Providers:sim-eu:Simulated:FaultPercent"] = "6",
        ["Gateway:Aliases:smart:0"] = "sim-eu/sim-smart",
        ["Gateway:Aliases:smart:1"] = "sim/sim-smart",
        // Frequent questions stay cached for a week (the default hour is too short for sparse demo traffic).
        ["Gateway:CacheTtl"] = "7.00:00:00",
        ["Gateway:UserRequestsPerMinute"] = "100000",
        ["Gateway:CircuitFailureThreshold"] = "1000",
    };

    public async Task RunAsync(CancellationToken ct)
    {
        var days = Math.Clamp(seed.Value.DemoHistoryDays, 0, 366);
        if (days == 0)
        {
            return;
        }

        string? memberId;
        await using (var db = dbFactory.ForSystem())
        {
            if (await db.Calls.AnyAsync(ct) || !await db.Tenants.AnyAsync(t => t.Id == DemoData.AcmeId, ct))
            {
                return;
            }

            var memberEmail = DemoData.Users.First(u => u.Role == Data.Identity.Roles.TenantMember).Email;
            memberId = await db.Users.Where(u => u.Email == memberEmail).Select(u => u.Id).FirstOrDefaultAsync(ct);
        }

        var started = Stopwatch.GetTimestamp();
        var history = new HistoryClock(clock);
        var plan = DemoTraffic.Plan(days, clock.GetUtcNow().UtcDateTime, memberId);
        await using (var gateway = await BuildGatewayAsync(history, ct))
        {
            var llm = gateway.GetRequiredService<ILlmGateway>();
            var failed = 0;
            await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (call, token) =>
            {
                history.Set(call.AtUtc);
                try
                {
                    await llm.CompleteAsync(new ChatRequest
                    {
                        Model = call.Alias,
                        Messages = [new ChatMessage("system", call.System), new ChatMessage("user", call.Prompt)],
                        Temperature = call.Temperature,
                        MaxTokens = call.MaxTokens,
                    }, new CallContext { TenantId = call.TenantId, Feature = call.Feature, EndUser = call.EndUser, UserId = call.UserId }, token);
                }
                catch (GatewayException)
                {
                    // Upstream errors and budget rejections are part of the story; the gateway recorded them.
                    Interlocked.Increment(ref failed);
                }
            });

            // Every queued call row is written before the rollup reads them.
            await gateway.GetRequiredService<IRecordedCalls>().FlushAsync(ct);
            log.LogInformation("Demo history: {Calls} calls over {Days} days recorded through the gateway ({Failed} failed upstream or were rejected) in {ElapsedMs} ms",
                plan.Count, days, failed, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        await rollup.RunAsync(ct);
    }

    private async Task<ServiceProvider> BuildGatewayAsync(HistoryClock history, CancellationToken ct)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(GatewaySettings).Build();
        var services = new ServiceCollection();
        services.AddSingleton(loggers);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(dbFactory);
        services.AddSingleton<TimeProvider>(history);
        // No BYOK in the demo history: nothing is ever encrypted with these keys.
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddKeystoneGateway(configuration);
        var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<PriceSeeder>().SeedAsync(ct);
        await provider.GetRequiredService<PriceBook>().ReloadAsync(ct);
        return provider;
    }
}
