using System.Net;
using System.Text;
using Keystone.Data.Keys;
using Keystone.Gateway;
using Keystone.Web.Features.Keys;
using Keystone.Web.Features.Tenants;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Keys;

/// <summary>The console's key operations on the real app: create (shown once, stored hashed), caps, revoke, audit.</summary>
public sealed class ApiKeyServiceTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private async Task<T> AsAcmeAdminAsync<T>(Func<ApiKeyService, Task<T>> action)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(KeysTestPrincipals.AcmeAdmin());
        return await action(scope.ServiceProvider.GetRequiredService<ApiKeyService>());
    }

    [Fact]
    public async Task CreateAsync_NewKey_StoresOnlyTheHashAuditsAndTheSecretWorks()
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("backend", [ApiKeyScopes.Chat], 120), CancellationToken.None));

        Assert.StartsWith("ks_", created.Secret, StringComparison.Ordinal);
        Assert.True(created.Secret.Length >= 40);
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id);
        Assert.Equal(ApiKeyHasher.Hash(created.Secret), stored.Hash);
        Assert.DoesNotContain(created.Secret, stored.Hash + stored.Prefix + stored.Name, StringComparison.Ordinal);
        Assert.Equal(120, stored.RequestsPerMinute);
        Assert.Equal("chat", stored.Scopes);
        var audit = await db.AuditLog.SingleAsync(a => a.Action == "apikey.create" && a.Target == $"apikey:{created.Key.Id}");
        Assert.DoesNotContain(created.Secret, audit.MetadataJson ?? "", StringComparison.Ordinal);
        var response = await fixture.ClientWith(created.Secret).GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task CreateAsync_WithCap_CreatesAnApiKeyCapListedWithTheKey()
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("capped", [ApiKeyScopes.Chat], null, 250_000, BudgetPeriod.Day), CancellationToken.None));

        var listed = await AsAcmeAdminAsync(s => s.ListAsync(CancellationToken.None));

        var row = Assert.Single(listed, k => k.Id == created.Key.Id);
        var cap = Assert.Single(row.Caps);
        Assert.Equal(BudgetScope.ApiKey, cap.Scope);
        Assert.Equal(250_000, cap.LimitMicros);
        Assert.Equal(BudgetPeriod.Day, cap.Period);
    }

    [Theory]
    [InlineData("", "chat", null)]
    [InlineData("ok", "", null)]
    [InlineData("ok", "root", null)]
    [InlineData("ok", "chat", 0)]
    public async Task CreateAsync_InvalidInput_ThrowsValidationMessage(string name, string scopes, int? rpm)
    {
        var scopeList = scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        await Assert.ThrowsAsync<ApiKeyValidationException>(() =>
            AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey(name, scopeList, rpm), CancellationToken.None)));
    }

    [Fact]
    public async Task RevokeAsync_OtherTenantsKey_DoesNothing()
    {
        var (globexKey, globexId) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat");

        var revoked = await AsAcmeAdminAsync(s => s.RevokeAsync(globexId, CancellationToken.None));

        Assert.False(revoked);
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(globexKey).GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task ListAsync_AsAcme_NeverListsOtherTenantsKeys()
    {
        var (_, globexId) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat", "globex key");

        var listed = await AsAcmeAdminAsync(s => s.ListAsync(CancellationToken.None));

        Assert.DoesNotContain(listed, k => k.Id == globexId);
        Assert.Contains(listed, k => k.Name.StartsWith("Demo key", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Get_KeysPageAsTenantAdmin_ListsTheDemoKeyByPrefixOnly()
    {
        var client = await fixture.App.SignInAsync("admin@acme.demo");

        var html = await client.GetStringAsync("/keys");

        Assert.Contains(ApiKeyHasher.PrefixOf(Keystone.Testing.KeystoneAppFactory.DemoApiKey), html, StringComparison.Ordinal);
        Assert.DoesNotContain(Keystone.Testing.KeystoneAppFactory.DemoApiKey, html, StringComparison.Ordinal);
    }
}
