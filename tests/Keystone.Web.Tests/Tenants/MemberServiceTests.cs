using Keystone.Web.Platform;
using System.Net;
using System.Security.Claims;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Tenants;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Tenants;

public sealed class MemberServiceTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private (AsyncServiceScope Scope, MemberService Members) ServiceFor(string email, Guid tenantId)
    {
        var scope = fixture.App.Services.CreateAsyncScope();
        var user = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<KeystoneUser>>().FindByEmailAsync(email).GetAwaiter().GetResult()!;
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Email, email), new Claim(ClaimTypes.Role, Roles.TenantAdmin),
            new Claim(KeystoneClaims.TenantId, tenantId.ToString()),
        ], "test")));
        return (scope, scope.ServiceProvider.GetRequiredService<MemberService>());
    }

    [Fact]
    public async Task TemporaryPassword_ThousandDraws_AllPassTheAppsPasswordPolicy()
    {
        // Before the fix about one draw in thirteen had no digit, so a thousand draws always held some.
        await using var scope = fixture.App.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<KeystoneUser>>();
        var user = new KeystoneUser { UserName = "policy@acme.demo", Email = "policy@acme.demo" };

        var refused = new List<string>();
        for (var i = 0; i < 1000; i++)
        {
            var password = MemberService.TemporaryPassword();
            foreach (var validator in users.PasswordValidators)
            {
                var result = await validator.ValidateAsync(users, user, password);
                if (!result.Succeeded)
                {
                    refused.Add($"{password}: {string.Join(' ', result.Errors.Select(e => e.Code))}");
                }
            }
        }

        Assert.Empty(refused);
    }

    [Fact]
    public async Task Add_NewEmail_CreatesAccountThatCanSignInAndAudits()
    {
        var (scope, members) = ServiceFor("admin@acme.demo", DemoData.AcmeId);
        await using var _ = scope;

        var result = await members.AddAsync("new.person@acme.demo", "New Person", Roles.TenantMember, CancellationToken.None);

        Assert.True(result.Succeeded, result.Error);
        Assert.Contains(await members.ListAsync(CancellationToken.None), m => m.Email == "new.person@acme.demo" && m.Role == Roles.TenantMember);
        var client = fixture.App.CreateBrowserLikeClient();
        var signIn = await KeystoneAppFactory.SignInWithAsync(client, "new.person@acme.demo", result.TemporaryPassword!);
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "member.add" && a.TenantId == DemoData.AcmeId && a.Target == "user:new.person@acme.demo"));
    }

    [Fact]
    public async Task List_OtherTenantsAdmin_SeesOnlyOwnMembers()
    {
        var (scope, members) = ServiceFor("admin@globex.demo", DemoData.GlobexId);
        await using var _ = scope;

        var rows = await members.ListAsync(CancellationToken.None);

        Assert.Equal(["admin@globex.demo"], rows.Select(r => r.Email));
    }

    [Fact]
    public async Task ChangeRole_LastAdmin_IsRefused()
    {
        var (scope, members) = ServiceFor("admin@initech.demo", DemoData.InitechId);
        await using var _ = scope;
        var self = (await members.ListAsync(CancellationToken.None)).Single(m => m.Email == "admin@initech.demo");

        var error = await members.ChangeRoleAsync(self.UserId, Roles.TenantMember, CancellationToken.None);

        Assert.Contains("at least one admin", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remove_MemberOfAnotherTenant_IsNotFound()
    {
        var (scope, members) = ServiceFor("admin@globex.demo", DemoData.GlobexId);
        await using var _ = scope;
        await using var db = fixture.App.CreateSystemDb();
        var acmeMember = await db.Users.SingleAsync(u => u.Email == "member@acme.demo");

        var error = await members.RemoveAsync(acmeMember.Id, CancellationToken.None);

        Assert.Equal("That person is not a member of this tenant.", error);
        Assert.True(await db.Memberships.AnyAsync(m => m.UserId == acmeMember.Id));
    }

    [Fact]
    public async Task Add_PlatformStaff_IsRefused()
    {
        var (scope, members) = ServiceFor("admin@acme.demo", DemoData.AcmeId);
        await using var _ = scope;

        var result = await members.AddAsync("support@keystone.demo", "Sam", Roles.TenantAdmin, CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Contains("platform staff", result.Error, StringComparison.Ordinal);
    }
}
