using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Tenancy;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>Two tenants on two plans and a handful of calls with known sums, for margin and usage query tests.</summary>
internal static class MarginData
{
    public static readonly Guid ProPlan = Guid.NewGuid();
    public static readonly Guid FreePlan = Guid.NewGuid();
    public static readonly Guid Acme = Guid.NewGuid();
    public static readonly Guid Globex = Guid.NewGuid();

    /// <summary>November 2026 (30 days).</summary>
    public static readonly DateTime Nov1 = new(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);

    public static async Task SeedAsync(KeystoneDbFactory factory)
    {
        await using (var db = factory.ForSystem())
        {
            db.Plans.AddRange(
                new Plan { Id = ProPlan, Name = "Pro-" + ProPlan.ToString("N")[..6], MonthlyPriceMicros = 90_000_000, IncludedUsageMicros = 30_000_000, OverageMarkupBasisPoints = 2_000 },
                new Plan { Id = FreePlan, Name = "Free-" + FreePlan.ToString("N")[..6], MonthlyPriceMicros = 0, IncludedUsageMicros = 1_000_000 });
            db.Tenants.AddRange(
                new Tenant { Id = Acme, Name = "Acme", Slug = "acme-" + Acme.ToString("N")[..6], PlanId = ProPlan, CreatedUtc = Nov1 },
                new Tenant { Id = Globex, Name = "Globex", Slug = "globex-" + Globex.ToString("N")[..6], PlanId = FreePlan, CreatedUtc = Nov1 });
            await db.SaveChangesAsync();
        }

        await RollupTestData.InsertAsync(factory,
        [
            Call(Acme, Nov1.AddDays(1).AddHours(3), "support-bot", "fast", 2_000_000, "end-1"),
            Call(Acme, Nov1.AddDays(1).AddHours(4), "support-bot", "smart", 8_000_000, "end-2"),
            Call(Acme, Nov1.AddDays(2).AddHours(5), "summarize", "smart", 1_000_000, "end-1"),
            // Calls on Acme's own key: not the platform's cost.
            Call(Acme, Nov1.AddDays(2).AddHours(6), "summarize", "smart", 50_000_000, "end-3", BilledTo.TenantKey),
            Call(Acme, Nov1.AddDays(2).AddHours(7), "classify", "fast", 500_000, null, userId: "member-1"),
            Call(Globex, Nov1.AddDays(3).AddHours(1), "search", "smart", 4_000_000, "g-1"),
            Call(Globex, Nov1.AddDays(4).AddHours(1), "search", "fast", 1_000_000, "g-2"),
            // Outside November: never in a November range.
            Call(Globex, Nov1.AddDays(-1).AddHours(1), "search", "smart", 7_000_000, "g-1"),
        ]);
    }

    private static LlmCall Call(Guid tenant, DateTime at, string feature, string alias, long cost, string? endUser,
        BilledTo billedTo = BilledTo.Platform, string? userId = null) => new()
    {
        Id = Guid.NewGuid(), TraceId = Guid.NewGuid(), TenantId = tenant, Feature = feature, Alias = alias,
        Provider = "simulated", Model = alias == "fast" ? "sim-small" : "sim-large", CostMicros = cost, EndUser = endUser, UserId = userId,
        BilledTo = billedTo, Status = CallStatus.Ok, InputTokens = 100, OutputTokens = 50, LatencyMs = 300, CreatedUtc = at,
    };
}
