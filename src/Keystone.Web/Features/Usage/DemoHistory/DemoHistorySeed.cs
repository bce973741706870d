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
/// so a configured real provider is never called by the seed (see <see cref="GatewaySettings"/> for where the
/// demo's fallbacks and provider-side failures come from).
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

    /// <summary>Hours (UTC) of the demo's provider outage: an afternoon in which <c>smart</c>'s providers answer 503.</summary>
    internal const int OutageFromHour = 11;

    /// <summary>End hour (UTC, exclusive) of the outage.</summary>
    internal const int OutageUntilHour = 16;

    /// <summary>
    /// The afternoon of the history's provider outage: nine days back (or the history's first day when it is shorter), moved
    /// to the Friday before when it falls on a weekend, so business-hours traffic meets it.
    /// </summary>
    internal static (DateTime From, DateTime Until) OutageWindow(int days, DateTime todayUtc)
    {
        var day = todayUtc.Date.AddDays(-Math.Min(9, days));
        while (day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday && day > todayUtc.Date.AddDays(-days))
        {
            day = day.AddDays(-1);
        }

        day = DateTime.SpecifyKind(day, DateTimeKind.Utc);
        return (day.AddHours(OutageFromHour), day.AddHours(OutageUntilHour));
    }

    /// <summary>
    /// The gateway configuration of the history: instant simulated providers; <c>smart</c> runs on a flaky region
    /// (<c>sim-eu</c>, 6 % server errors) with <c>sim-us</c> behind it, which is where the fallbacks come from; both
    /// are down for the outage window, which is where the failed calls come from. Nothing fails because of what a
    /// customer wrote, so support can replay any failed call on another model, as after a real outage.
    /// </summary>
    internal static IReadOnlyDictionary<string, string?> GatewaySettings(int days, DateTime todayUtc)
    {
        var (from, until) = OutageWindow(days, todayUtc);
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Providers:sim:Kind"] = "Simulated",
            ["Gateway:Providers:sim:Simulated:TimeToFirstTokenMs"] = "0",
            ["Gateway:Providers:sim:Simulated:TokensPerSecond"] = "0",
            ["Gateway:Providers:sim-eu:Simulated:Fault"] = "ServerError",
            ["Gateway:Providers:sim-eu:Simulated:FaultPercent"] = "6",
            ["Gateway:Aliases:smart:0"] = "sim-eu/sim-smart",
            ["Gateway:Aliases:smart:1"] = "sim-us/sim-smart",
            // Frequent questions stay cached for a week (the default hour is too short for sparse demo traffic).
            ["Gateway:CacheTtl"] = "7.00:00:00",
            ["Gateway:UserRequestsPerMinute"] = "100000",
            ["Gateway:CircuitFailureThreshold"] = "1000",
        };
        foreach (var region in new[] { "sim-eu", "sim-us" })
        {
            settings[$"Gateway:Providers:{region}:Kind"] = "Simulated";
            settings[$"Gateway:Providers:{region}:PriceKey"] = "simulated";
            settings[$"Gateway:Providers:{region}:Models:0"] = "sim-smart";
            settings[$"Gateway:Providers:{region}:Simulated:TimeToFirstTokenMs"] = "0";
            settings[$"Gateway:Providers:{region}:Simulated:TokensPerSecond"] = "0";
            settings[$"Gateway:Providers:{region}:Simulated:OutageFromUtc"] = from.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            settings[$"Gateway:Providers:{region}:Simulated:OutageUntilUtc"] = until.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            settings[$"Gateway:Providers:{region}:Simulated:OutageStatus"] = "503";
        }

        return settings;
    }

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
        await using (var gateway = await BuildGatewayAsync(history, GatewaySettings(days, clock.GetUtcNow().UtcDateTime), ct))
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

    private async Task<ServiceProvider> BuildGatewayAsync(HistoryClock history, IReadOnlyDictionary<string, string?> settings, CancellationToken ct)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
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
