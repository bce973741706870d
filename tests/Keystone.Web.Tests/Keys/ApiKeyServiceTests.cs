using Keystone.Web.Platform.Http;
using Keystone.Web.Platform;
using System.Net;
using System.Text;
using Keystone.Data.Keys;
using Keystone.Gateway;
using Keystone.Web.Features.Keys;
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

    [Fact]
    public async Task CreateAsync_CapCannotBeWritten_LeavesNoKeyBehind()
    {
        // A trigger refuses this one cap's row, as a failing database would; other tests' caps are untouched.
        await using (var db = fixture.App.CreateSystemDb())
        {
            await db.Database.ExecuteSqlRawAsync(
                "CREATE TRIGGER refuse_cap BEFORE INSERT ON budgets WHEN NEW.limit_micros = 313131 BEGIN SELECT RAISE(ABORT, 'refused'); END;");
        }

        try
        {
            await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() => AsAcmeAdminAsync(s =>
                s.CreateAsync(new NewApiKey("cap-fails", [ApiKeyScopes.Chat], null, 313_131, BudgetPeriod.Day), CancellationToken.None)));
        }
        finally
        {
            await using var db = fixture.App.CreateSystemDb();
            await db.Database.ExecuteSqlRawAsync("DROP TRIGGER refuse_cap;");
        }

        await using var check = fixture.App.CreateSystemDb();
        Assert.False(await check.ApiKeys.AnyAsync(k => k.Name == "cap-fails"));
        Assert.False(await check.AuditLog.AnyAsync(a => a.Action == "apikey.create" && a.MetadataJson!.Contains("cap-fails")));
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

    [Theory]
    [InlineData(-60.0)]
    [InlineData(6 * 366 * 24 * 60.0)]
    public async Task CreateAsync_ExpiryInThePastOrYearsAhead_ThrowsValidationMessage(double minutesFromNow)
    {
        var expires = DateTime.UtcNow.AddMinutes(minutesFromNow);

        var ex = await Assert.ThrowsAsync<ApiKeyValidationException>(() =>
            AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("dated", [ApiKeyScopes.Chat], ExpiresUtc: expires), CancellationToken.None)));

        Assert.Contains("expiry", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAsync_ExpiryNotInUtc_IsRefused()
    {
        var local = DateTime.SpecifyKind(DateTime.UtcNow.AddDays(3), DateTimeKind.Unspecified);

        var ex = await Assert.ThrowsAsync<ApiKeyValidationException>(() =>
            AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("dated", [ApiKeyScopes.Chat], ExpiresUtc: local), CancellationToken.None)));

        Assert.Contains("UTC", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetExpiryAsync_ExtendingAnExpiredKey_MakesItWorkAgainAndIsAudited()
    {
        var (key, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "lapsed", DateTime.UtcNow.AddDays(-1));
        var client = fixture.ClientWith(key);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/models")).StatusCode);
        var extended = new DateTime(DateTime.UtcNow.Year + 1, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        await AsAcmeAdminAsync(async s => { await s.SetExpiryAsync(keyId, extended, CancellationToken.None); return 0; });

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.Equal(extended, (await db.ApiKeys.SingleAsync(k => k.Id == keyId)).ExpiresUtc);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "apikey.expiry" && a.Target == $"apikey:{keyId}"));
    }

    [Fact]
    public async Task RotateAsync_WithOverlap_BothSecretsWorkAsTheSameKeyAndOnlyTheHashIsStored()
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("rolling", [ApiKeyScopes.Chat], 600), CancellationToken.None));

        var rotated = await AsAcmeAdminAsync(s => s.RotateAsync(created.Key.Id, TimeSpan.FromHours(1), CancellationToken.None));

        Assert.NotEqual(created.Secret, rotated.Secret);
        Assert.Equal(created.Key.Id, rotated.Key.Id);
        Assert.Equal(created.Key.Prefix, rotated.Key.PreviousPrefix);
        Assert.True(rotated.Key.PreviousExpiresUtc > DateTime.UtcNow.AddMinutes(55));
        Assert.True(rotated.Key.PreviousSecretWorksAt(DateTime.UtcNow));
        foreach (var secret in new[] { created.Secret, rotated.Secret })
        {
            var answer = await fixture.ClientWith(secret).PostAsync("/v1/chat/completions",
                new StringContent("""{"model":"fast","messages":[{"role":"user","content":"rotation"}]}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        await fixture.FlushCallsAsync();
        await using var db = fixture.App.CreateSystemDb();
        // Attribution, caps and rate limits follow the key, not the secret.
        Assert.Equal(2, await db.Calls.CountAsync(c => c.ApiKeyId == created.Key.Id));
        var stored = await db.ApiKeys.SingleAsync(k => k.Id == created.Key.Id);
        Assert.Equal(ApiKeyHasher.Hash(rotated.Secret), stored.Hash);
        Assert.Equal(ApiKeyHasher.Hash(created.Secret), stored.PreviousHash);
        Assert.Equal(600, stored.RequestsPerMinute);
        var audit = await db.AuditLog.SingleAsync(a => a.Action == "apikey.rotate" && a.Target == $"apikey:{created.Key.Id}");
        Assert.DoesNotContain(rotated.Secret, audit.MetadataJson ?? "", StringComparison.Ordinal);
        Assert.DoesNotContain(created.Secret, audit.MetadataJson ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotateAsync_WithoutOverlap_OldSecretIsRefusedAtOnceAsReplaced()
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("leaked", [ApiKeyScopes.Chat]), CancellationToken.None));
        var old = fixture.ClientWith(created.Secret);
        Assert.Equal(HttpStatusCode.OK, (await old.GetAsync("/v1/models")).StatusCode);

        var rotated = await AsAcmeAdminAsync(s => s.RotateAsync(created.Key.Id, TimeSpan.Zero, CancellationToken.None));

        var refused = await old.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var error = await ChatCompletionsApiTests.ErrorOf(refused);
        Assert.Equal("api_key_expired", error.GetProperty("code").GetString());
        Assert.Contains("replaced by a rotation", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(rotated.Secret).GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task RotateAsync_Twice_TheFirstSecretStopsAndTheLastTwoWork()
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("twice", [ApiKeyScopes.Chat]), CancellationToken.None));
        var second = await AsAcmeAdminAsync(s => s.RotateAsync(created.Key.Id, TimeSpan.FromDays(1), CancellationToken.None));
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(created.Secret).GetAsync("/v1/models")).StatusCode);

        var third = await AsAcmeAdminAsync(s => s.RotateAsync(created.Key.Id, TimeSpan.FromDays(1), CancellationToken.None));

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.ClientWith(created.Secret).GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(second.Secret).GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(third.Secret).GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task RevokeAsync_AfterRotation_RefusesBothSecrets()
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("gone", [ApiKeyScopes.Chat]), CancellationToken.None));
        var rotated = await AsAcmeAdminAsync(s => s.RotateAsync(created.Key.Id, TimeSpan.FromDays(7), CancellationToken.None));
        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(created.Secret).GetAsync("/v1/models")).StatusCode);

        Assert.True(await AsAcmeAdminAsync(s => s.RevokeAsync(created.Key.Id, CancellationToken.None)));

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.ClientWith(created.Secret).GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.ClientWith(rotated.Secret).GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task RotateAsync_OtherTenantsKey_IsRefusedAndTheKeyKeepsWorking()
    {
        var (globexKey, globexId) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat");

        await Assert.ThrowsAsync<ApiKeyNotFoundException>(() =>
            AsAcmeAdminAsync(s => s.RotateAsync(globexId, TimeSpan.Zero, CancellationToken.None)));

        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(globexKey).GetAsync("/v1/models")).StatusCode);
        await using var db = fixture.App.CreateSystemDb();
        Assert.Null((await db.ApiKeys.SingleAsync(k => k.Id == globexId)).PreviousHash);
    }

    [Theory]
    [InlineData(-1.0)]
    [InlineData(31 * 24.0)]
    public async Task RotateAsync_OverlapOutOfRange_IsRefusedAndNothingChanges(double hours)
    {
        var created = await AsAcmeAdminAsync(s => s.CreateAsync(new NewApiKey("kept", [ApiKeyScopes.Chat]), CancellationToken.None));

        await Assert.ThrowsAsync<ApiKeyValidationException>(() =>
            AsAcmeAdminAsync(s => s.RotateAsync(created.Key.Id, TimeSpan.FromHours(hours), CancellationToken.None)));

        Assert.Equal(HttpStatusCode.OK, (await fixture.ClientWith(created.Secret).GetAsync("/v1/models")).StatusCode);
    }
}
