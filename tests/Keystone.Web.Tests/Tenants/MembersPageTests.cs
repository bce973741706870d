using Bunit;
using Keystone.Web.Features.Tenants;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Keystone.Data.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Tenants;

/// <summary>The /members page over the real app's member service (SQLite, Identity, audit), as Acme's admin.</summary>
public sealed class MembersPageTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public MembersPageTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = fixture.App.Services.CreateAsyncScope();
        var scope = _scope;
        var tenant = scope.ServiceProvider.GetRequiredService<TenantContext>();
        var admin = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<KeystoneUser>>()
            .FindByEmailAsync("admin@acme.demo").GetAwaiter().GetResult()!;
        var principal = PrincipalFor(Roles.TenantAdmin, DemoData.AcmeId);
        ((System.Security.Claims.ClaimsIdentity)principal.Identity!).RemoveClaim(principal.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier));
        ((System.Security.Claims.ClaimsIdentity)principal.Identity!).AddClaim(new(System.Security.Claims.ClaimTypes.NameIdentifier, admin.Id));
        tenant.SetUser(principal);
        Services.AddSingleton(tenant);
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<MemberService>());
    }

    [Fact]
    public async Task Unlock_LockedMember_ShowsTheButtonAndEndsTheLock()
    {
        await using (var db = _fixture.App.CreateSystemDb())
        {
            var member = await db.Users.SingleAsync(u => u.Email == "member@acme.demo");
            member.LockoutEnd = DateTimeOffset.UtcNow.AddMinutes(5);
            member.AccessFailedCount = 0;
            await db.SaveChangesAsync();
        }

        var page = Render<MembersPage>();
        page.WaitForElement("[data-test=member-unlock]", Wait).Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-test=member-unlock]")), Wait);
        Assert.DoesNotContain("locked out", page.Find("[data-test=members-table]").TextContent, StringComparison.Ordinal);
        await using var after = _fixture.App.CreateSystemDb();
        Assert.Null((await after.Users.SingleAsync(u => u.Email == "member@acme.demo")).LockoutEnd);
        Assert.True(await after.AuditLog.AnyAsync(a => a.Action == "member.unlock" && a.Target == "user:member@acme.demo"));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services are only async-disposable: bUnit's container must be disposed asynchronously.
    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }
}
