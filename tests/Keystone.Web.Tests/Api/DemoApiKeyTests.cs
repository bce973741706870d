using Keystone.Web.Platform;
using System.Net;
using System.Text;
using Keystone.Data.Keys;
using Keystone.Testing;
using Keystone.Web.Hosting;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// The "done when": curl and the SDKs work against a fresh start with the README's demo key, with no
/// setting — and the key can be changed or turned off.
/// </summary>
public sealed class DemoApiKeyTests
{
    private static StringContent Chat() => new("""{"model":"smart","messages":[{"role":"user","content":"Say hello"}]}""", Encoding.UTF8, "application/json");

    [Fact]
    public async Task FreshStart_WithoutTheSetting_TheReadmeKeyAnswersAsAcme()
    {
        using var app = new KeystoneAppFactory().WithoutSetting("Seed:DemoApiKey");
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", SeedOptions.DefaultDemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(long.Parse(response.Headers.GetValues("X-Keystone-Cost-Micros").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);
        await using var db = app.CreateSystemDb();
        var key = await db.ApiKeys.SingleAsync(k => k.Hash == ApiKeyHasher.Hash(SeedOptions.DefaultDemoApiKey));
        Assert.Equal(DemoData.AcmeId, key.TenantId);
        Assert.DoesNotContain(SeedOptions.DefaultDemoApiKey, key.Prefix + key.Name, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FreshStart_EmptySetting_SeedsNoKey()
    {
        using var app = new KeystoneAppFactory().WithSetting("Seed:DemoApiKey", "");
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", SeedOptions.DefaultDemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await using var db = app.CreateSystemDb();
        Assert.False(await db.ApiKeys.AnyAsync());
    }

    [Fact]
    public void Start_MalformedDemoKey_FailsNamingTheSetting()
    {
        using var app = new KeystoneAppFactory().WithSetting("Seed:DemoApiKey", "sk-demo");

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains("Seed:DemoApiKey", Shared.ExceptionText.Flatten(error), StringComparison.Ordinal);
    }
}
