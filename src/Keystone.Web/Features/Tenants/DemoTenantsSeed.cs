using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Identity;
using Keystone.Data.Keys;
using Keystone.Data.Tenancy;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Tenants;

/// <summary>Seeds plans, the four demo tenants, the demo users and (when configured) Acme's API key.</summary>
internal sealed class DemoTenantsSeed(
    KeystoneDbFactory dbFactory,
    UserManager<KeystoneUser> users,
    RoleManager<IdentityRole> roles,
    IOptions<SeedOptions> options,
    TimeProvider clock,
    ILogger<DemoTenantsSeed> log) : IDemoSeedStep
{
    public int Order => 0;

    /// <summary>Pro's monthly price (micro-USD), sized to the demo history's volume like the other plans.</summary>
    internal const long ProPriceMicros = 6_000_000;

    /// <summary>Inference cost included in Pro each month; above it, cost + 20 % is billed.</summary>
    internal const long ProIncludedMicros = 3_000_000;

    /// <summary>Enterprise's monthly price.</summary>
    internal const long EnterprisePriceMicros = 49_000_000;

    /// <summary>Inference cost included in Enterprise each month; above it, cost + 10 % is billed.</summary>
    internal const long EnterpriseIncludedMicros = 20_000_000;

    /// <summary>The flat Team plan: one price, usage not metered (the risk the margin page is there to show).</summary>
    internal const long TeamPriceMicros = 3_000_000;

    public async Task RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var role in Roles.All)
        {
            if (!await roles.RoleExistsAsync(role))
            {
                await roles.CreateAsync(new IdentityRole(role));
            }
        }

        await using (var db = dbFactory.ForSystem())
        {
            // Prices fit the demo's small customers (a few dozen calls a day each), so the margins come out in three
            // bands: Initech healthy, Acme thin (its support bot on the expensive alias), Umbrella under water (a flat
            // price with unmetered usage). Each row is added when missing, so an older demo database gets the new ones.
            var plans = await db.Plans.Select(p => p.Id).ToListAsync(ct);
            Plan[] demoPlans =
            [
                new Plan { Id = DemoData.FreePlanId, Name = "Free", MonthlyPriceMicros = 0, IncludedUsageMicros = 1_000_000, DefaultTenantDayCapMicros = 500_000, DefaultTenantMonthCapMicros = 5_000_000, DefaultUserDayCapMicros = 200_000, DefaultRequestsPerMinute = 60 },
                new Plan { Id = DemoData.ProPlanId, Name = "Pro", MonthlyPriceMicros = ProPriceMicros, IncludedUsageMicros = ProIncludedMicros, OverageMarkupBasisPoints = 2_000, DefaultTenantDayCapMicros = 20_000_000, DefaultTenantMonthCapMicros = 200_000_000, DefaultUserDayCapMicros = 2_000_000, DefaultRequestsPerMinute = 600 },
                new Plan { Id = DemoData.EnterprisePlanId, Name = "Enterprise", MonthlyPriceMicros = EnterprisePriceMicros, IncludedUsageMicros = EnterpriseIncludedMicros, OverageMarkupBasisPoints = 1_000, DefaultRequestsPerMinute = 6_000 },
                new Plan { Id = DemoData.TeamPlanId, Name = "Team (flat)", MonthlyPriceMicros = TeamPriceMicros, IncludedUsageMicros = 0, OverageMarkupBasisPoints = 0, DefaultTenantDayCapMicros = 20_000_000, DefaultRequestsPerMinute = 600 },
            ];
            db.Plans.AddRange(demoPlans.Where(p => !plans.Contains(p.Id)));
            await db.SaveChangesAsync(ct);

            var tenants = await db.Tenants.Select(t => t.Id).ToListAsync(ct);
            Tenant[] demoTenants =
            [
                new Tenant { Id = DemoData.AcmeId, Name = "Acme", Slug = "acme", PlanId = DemoData.ProPlanId, IsDemo = true, CreatedUtc = now },
                new Tenant { Id = DemoData.GlobexId, Name = "Globex", Slug = "globex", PlanId = DemoData.FreePlanId, IsDemo = true, CreatedUtc = now },
                new Tenant { Id = DemoData.InitechId, Name = "Initech", Slug = "initech", PlanId = DemoData.EnterprisePlanId, IsDemo = true, CreatedUtc = now },
                new Tenant { Id = DemoData.UmbrellaId, Name = "Umbrella", Slug = "umbrella", PlanId = DemoData.TeamPlanId, IsDemo = true, CreatedUtc = now },
            ];
            db.Tenants.AddRange(demoTenants.Where(t => !tenants.Contains(t.Id)));

            await db.SaveChangesAsync(ct);
        }

        var password = string.IsNullOrEmpty(options.Value.DemoPassword) ? SeedOptions.DefaultDemoPassword : options.Value.DemoPassword;
        foreach (var demo in DemoData.Users)
        {
            await EnsureUserAsync(demo, password, now, ct);
        }

        var apiKey = options.Value.DemoApiKey ?? SeedOptions.DefaultDemoApiKey;
        if (apiKey.Length > 0)
        {
            await EnsureApiKeyAsync(apiKey, now, ct);
            if (apiKey == SeedOptions.DefaultDemoApiKey)
            {
                // The default is printed in the README: fine on a laptop's loopback, never on a shared host.
                log.LogWarning("Acme's demo API key is the public default from the README; set Seed:DemoApiKey to another value, or to empty for none, before anyone else can reach this instance");
            }
        }
    }

    private async Task EnsureUserAsync(DemoData.DemoUser demo, string password, DateTime now, CancellationToken ct)
    {
        var user = await users.FindByEmailAsync(demo.Email);
        if (user is null)
        {
            user = new KeystoneUser { UserName = demo.Email, Email = demo.Email, EmailConfirmed = true, DisplayName = demo.DisplayName, CreatedUtc = now };
            Check(await users.CreateAsync(user, password), demo.Email);
        }
        else if (!string.IsNullOrEmpty(options.Value.DemoPassword) && !await users.CheckPasswordAsync(user, password))
        {
            // Seed:DemoPassword is the demo users' password on every start, so scripts can rely on it.
            var token = await users.GeneratePasswordResetTokenAsync(user);
            Check(await users.ResetPasswordAsync(user, token, password), demo.Email);
        }

        if (demo.TenantId is null)
        {
            if (!await users.IsInRoleAsync(user, demo.Role))
            {
                Check(await users.AddToRoleAsync(user, demo.Role), demo.Email);
            }

            return;
        }

        await using var db = dbFactory.ForTenant(demo.TenantId.Value);
        if (!await db.Memberships.AnyAsync(m => m.UserId == user.Id, ct))
        {
            db.Memberships.Add(new Membership { Id = Guid.NewGuid(), TenantId = demo.TenantId.Value, UserId = user.Id, Role = demo.Role, CreatedUtc = now });
            await db.SaveChangesAsync(ct);
        }
    }

    private async Task EnsureApiKeyAsync(string key, DateTime now, CancellationToken ct)
    {
        if (!key.StartsWith(ApiKeyHasher.KeyPrefix, StringComparison.Ordinal) || key.Length < 20)
        {
            throw new InvalidOperationException($"Setting 'Seed:DemoApiKey' must start with '{ApiKeyHasher.KeyPrefix}' and be at least 20 characters long.");
        }

        var hash = ApiKeyHasher.Hash(key);
        await using var db = dbFactory.ForTenant(DemoData.AcmeId);
        if (await db.ApiKeys.AnyAsync(k => k.Hash == hash, ct))
        {
            return;
        }

        db.ApiKeys.Add(new ApiKey
        {
            Id = Guid.NewGuid(), TenantId = DemoData.AcmeId, Name = "Demo key (Seed:DemoApiKey)",
            Prefix = ApiKeyHasher.PrefixOf(key), Hash = hash, Scopes = "chat embeddings usage:read admin", CreatedUtc = now,
        });
        await db.SaveChangesAsync(ct);
        log.LogInformation("Seeded Acme's demo API key {Prefix}…", ApiKeyHasher.PrefixOf(key));
    }

    private static void Check(IdentityResult result, string email)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"Could not seed demo user {email}: {string.Join("; ", result.Errors.Select(e => e.Description))}");
        }
    }
}
