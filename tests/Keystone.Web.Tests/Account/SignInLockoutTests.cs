using System.Globalization;
using System.Net;
using System.Security.Claims;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Tenants;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Shared;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Account;

/// <summary>
/// Failed sign-ins are limited per client address; a locked account's sign-in page says until when; an admin's unlock
/// or password reset ends the lock (issue 20, item 16).
/// </summary>
public sealed class SignInLockoutTests : IAsyncLifetime
{
    // Three failures per address per minute, so the tests reach the limit quickly.
    private readonly ConnectionAddressedApp _app = (ConnectionAddressedApp)new ConnectionAddressedApp()
        .WithSetting("SignIn:MaxFailuresPerAddress", "3")
        .WithSetting("SignIn:FailureWindow", "00:01:00");

    public Task InitializeAsync()
    {
        _ = _app.Server;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _app.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task SignIn_AddressPastItsFailureLimit_Answers429WithoutCheckingThePassword()
    {
        var attacker = ClientFrom("203.0.113.7");
        for (var i = 0; i < 3; i++)
        {
            await KeystoneAppFactory.SignInWithAsync(attacker, i % 2 == 0 ? "member@acme.demo" : "admin@globex.demo", "wrong-password-" + i);
        }

        var refused = await KeystoneAppFactory.SignInWithAsync(attacker, "member@acme.demo", KeystoneAppFactory.DemoPassword);
        var fromElsewhere = await KeystoneAppFactory.SignInWithAsync(ClientFrom("198.51.100.20"), "member@acme.demo", KeystoneAppFactory.DemoPassword);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("Too many failed sign-ins from your network", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, fromElsewhere.StatusCode);
        await using var db = _app.CreateSystemDb();
        // The refused attempt was not counted against the account: only the two real failures were (and the success reset them).
        Assert.Equal(0, (await db.Users.SingleAsync(u => u.Email == "member@acme.demo")).AccessFailedCount);
        Assert.Equal(1, (await db.Users.SingleAsync(u => u.Email == "admin@globex.demo")).AccessFailedCount);
    }

    [Fact]
    public async Task SignIn_LockedAccount_SaysUntilWhenInPlainWords()
    {
        var end = await LockAsync("admin@initech.demo");

        var response = await KeystoneAppFactory.SignInWithAsync(ClientFrom("192.0.2.30"), "admin@initech.demo", KeystoneAppFactory.DemoPassword);

        var page = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"locked after too many failed sign-ins, until {end.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture)} UTC", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unlock_ByTenantAdmin_EndsTheLockAndIsAudited()
    {
        await LockAsync("member@acme.demo");
        var (scope, members) = MembersAs("admin@acme.demo", DemoData.AcmeId);
        await using var _ = scope;
        var member = (await members.ListAsync(CancellationToken.None)).Single(m => m.Email == "member@acme.demo");
        Assert.True(member.LockedOut);

        var error = await members.UnlockAsync(member.UserId, CancellationToken.None);

        Assert.Null(error);
        Assert.False((await members.ListAsync(CancellationToken.None)).Single(m => m.Email == "member@acme.demo").LockedOut);
        var signIn = await KeystoneAppFactory.SignInWithAsync(ClientFrom("192.0.2.40"), "member@acme.demo", KeystoneAppFactory.DemoPassword);
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        await using var db = _app.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "member.unlock" && a.TenantId == DemoData.AcmeId && a.Target == "user:member@acme.demo"));
    }

    [Fact]
    public async Task ResetPassword_ByTenantAdmin_EndsTheLockAndTheNewPasswordSignsIn()
    {
        await LockAsync("admin@globex.demo");
        var (scope, members) = MembersAs("admin@globex.demo", DemoData.GlobexId);
        await using var _ = scope;
        var admin = (await members.ListAsync(CancellationToken.None)).Single(m => m.Email == "admin@globex.demo");

        var reset = await members.ResetPasswordAsync(admin.UserId, CancellationToken.None);

        Assert.True(reset.Succeeded, reset.Error);
        var signIn = await KeystoneAppFactory.SignInWithAsync(ClientFrom("192.0.2.50"), "admin@globex.demo", reset.TemporaryPassword!);
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        await using var db = _app.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "member.password_reset" && a.TenantId == DemoData.GlobexId));
        Assert.DoesNotContain(await db.AuditLog.Select(a => a.MetadataJson ?? "").ToListAsync(), m => m.Contains(reset.TemporaryPassword!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unlock_AnotherTenantsUser_IsRefusedAndChangesNothing()
    {
        var end = await LockAsync("admin@initech.demo");
        await using var db = _app.CreateSystemDb();
        var initechAdmin = await db.Users.SingleAsync(u => u.Email == "admin@initech.demo");
        var (scope, members) = MembersAs("admin@acme.demo", DemoData.AcmeId);
        await using var _ = scope;

        var error = await members.UnlockAsync(initechAdmin.Id, CancellationToken.None);
        var reset = await members.ResetPasswordAsync(initechAdmin.Id, CancellationToken.None);

        Assert.NotNull(error);
        Assert.False(reset.Succeeded);
        await using var after = _app.CreateSystemDb();
        Assert.Equal(end, (await after.Users.SingleAsync(u => u.Email == "admin@initech.demo")).LockoutEnd);
    }

    [Theory]
    [InlineData("SignIn:MaxFailuresPerAddress", "0")]
    [InlineData("SignIn:FailureWindow", "00:00:00")]
    public void Start_ThrottleSettingOutOfRange_FailsNamingTheSetting(string setting, string value)
    {
        using var app = new KeystoneAppFactory().WithSetting(setting, value);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains(setting.Split(':')[1], ExceptionText.Flatten(error), StringComparison.Ordinal);
    }

    // Five wrong passwords from five addresses (so the address limit does not stop them): the account locks.
    private async Task<DateTimeOffset> LockAsync(string email)
    {
        for (var i = 0; i < 5; i++)
        {
            await KeystoneAppFactory.SignInWithAsync(ClientFrom($"10.0.{Math.Abs(email.GetHashCode(StringComparison.Ordinal)) % 200}.{i + 1}"), email, "wrong-password-" + i);
        }

        await using var db = _app.CreateSystemDb();
        var end = (await db.Users.SingleAsync(u => u.Email == email)).LockoutEnd;
        Assert.NotNull(end);
        return end.Value;
    }

    private HttpClient ClientFrom(string address)
    {
        var client = _app.CreateBrowserLikeClient();
        client.DefaultRequestHeaders.Add(ConnectionAddressedApp.Header, address);
        return client;
    }

    private (AsyncServiceScope Scope, MemberService Members) MembersAs(string email, Guid tenantId)
    {
        var scope = _app.Services.CreateAsyncScope();
        var user = scope.ServiceProvider.GetRequiredService<UserManager<KeystoneUser>>().FindByEmailAsync(email).GetAwaiter().GetResult()!;
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Email, email), new Claim(ClaimTypes.Role, Roles.TenantAdmin),
            new Claim(KeystoneClaims.TenantId, tenantId.ToString()),
        ], "test")));
        return (scope, scope.ServiceProvider.GetRequiredService<MemberService>());
    }
}
