using Keystone.Web.Platform;
using System.Net;
using Keystone.Data.Audit;
using Keystone.Testing;
using Keystone.Web.Components.Account;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Account;

public sealed class SignInTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [Theory]
    [InlineData("founder@keystone.demo", "home-PlatformAdmin")]
    [InlineData("support@keystone.demo", "home-Support")]
    [InlineData("product@keystone.demo", "home-PromptEditor")]
    [InlineData("admin@acme.demo", "home-TenantAdmin")]
    [InlineData("member@acme.demo", "home-TenantMember")]
    [InlineData("admin@globex.demo", "home-TenantAdmin")]
    [InlineData("admin@initech.demo", "home-TenantAdmin")]
    public async Task SignIn_DemoUser_LandsOnTheirHomePage(string email, string marker)
    {
        var client = await fixture.App.SignInAsync(email);

        var home = await client.GetStringAsync("/");

        Assert.Contains($"data-test=\"{marker}\"", home, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_WrongPassword_ShowsErrorAndNoCookie()
    {
        var client = fixture.App.CreateBrowserLikeClient();

        var response = await KeystoneAppFactory.SignInWithAsync(client, "member@acme.demo", "not-the-password");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("do not match", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task SignIn_FiveFailures_LocksTheAccount()
    {
        var client = fixture.App.CreateBrowserLikeClient();
        for (var i = 0; i < 5; i++)
        {
            await KeystoneAppFactory.SignInWithAsync(client, "admin@initech.demo", "wrong-password-" + i);
        }

        var response = await KeystoneAppFactory.SignInWithAsync(client, "admin@initech.demo", KeystoneAppFactory.DemoPassword);

        Assert.Contains("locked", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        await using var db = fixture.App.CreateSystemDb();
        var user = await db.Users.SingleAsync(u => u.Email == "admin@initech.demo");
        Assert.NotNull(user.LockoutEnd);
        // Unlock for the other tests of this fixture.
        user.LockoutEnd = null;
        user.AccessFailedCount = 0;
        await db.SaveChangesAsync();
    }

    [Fact]
    public async Task SignOut_Post_ClearsTheSession()
    {
        var client = await fixture.App.SignInAsync("member@acme.demo");
        var token = KeystoneAppFactory.AntiforgeryTokenOf(await client.GetStringAsync("/Account/ChangePassword"));

        var response = await client.PostAsync("/Account/Logout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["returnUrl"] = "/",
        }));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task SwitchTenant_PlatformAdmin_ScopesToTenantAndIsAudited()
    {
        var client = await fixture.App.SignInAsync("founder@keystone.demo");
        var token = KeystoneAppFactory.AntiforgeryTokenOf(await client.GetStringAsync("/Account/ChangePassword"));

        var response = await client.PostAsync(TenantSwitchEndpoint.Path, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["tenantId"] = DemoData.GlobexId.ToString(),
            ["returnUrl"] = "/tenants",
        }));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/tenants", response.Headers.Location!.OriginalString);
        var home = await client.GetStringAsync("/");
        Assert.Contains($"value=\"{DemoData.GlobexId}\" selected", home, StringComparison.Ordinal);
        await using var db = fixture.App.CreateSystemDb();
        var entry = await db.AuditLog.Where(a => a.Action == "tenant.switch" && a.TenantId == DemoData.GlobexId).SingleAsync();
        Assert.Equal("founder@keystone.demo", entry.ActorName);
    }

    [Fact]
    public async Task SwitchTenant_TenantAdmin_IsForbidden()
    {
        var client = await fixture.App.SignInAsync("admin@acme.demo");
        var token = KeystoneAppFactory.AntiforgeryTokenOf(await client.GetStringAsync("/Account/ChangePassword"));

        var response = await client.PostAsync(TenantSwitchEndpoint.Path, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["tenantId"] = DemoData.GlobexId.ToString(),
        }));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.AuditLog.AnyAsync(a => a.Action == "tenant.switch" && a.ActorName == "admin@acme.demo"));
    }

    [Fact]
    public async Task Health_Endpoints_AnswerWithoutSignIn()
    {
        var client = fixture.App.CreateBrowserLikeClient();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
    }
}
