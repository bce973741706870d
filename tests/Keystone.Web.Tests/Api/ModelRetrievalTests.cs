using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Routing;
using Keystone.Gateway.Pipeline;
using Keystone.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Api;

/// <summary><c>GET /v1/models/{model}</c>: OpenAI's "retrieve model", within what the tenant and the key may use.</summary>
public sealed class ModelRetrievalTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    [Fact]
    public async Task Get_EveryListedModel_IsRetrievableByItsIdEscapedAsSdksSendIt()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        using var list = JsonDocument.Parse(await client.GetStringAsync("/v1/models"));
        var listed = list.RootElement.GetProperty("data").EnumerateArray().ToList();

        foreach (var entry in listed)
        {
            var id = entry.GetProperty("id").GetString()!;
            using var one = JsonDocument.Parse(await client.GetStringAsync($"/v1/models/{Uri.EscapeDataString(id)}"));

            Assert.Equal(id, one.RootElement.GetProperty("id").GetString());
            Assert.Equal("model", one.RootElement.GetProperty("object").GetString());
            Assert.Equal(entry.GetProperty("x_keystone_kind").GetString(), one.RootElement.GetProperty("x_keystone_kind").GetString());
        }

        Assert.Contains(listed, e => e.GetProperty("id").GetString() == "fast");
    }

    [Fact]
    public async Task Get_ProviderModel_IsFoundWithAPlainOrAnEscapedSlash()
    {
        // A raw provider/model is listed only where the tenant's policy allows it (here Globex, used by no other test of this class).
        await using (var db = fixture.App.CreateSystemDb())
        {
            db.TenantModelPolicies.Add(new TenantModelPolicy { TenantId = ApiFixture.Globex, AllowedModels = "fast sim/sim-fast", UpdatedUtc = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }

        fixture.App.Services.GetRequiredService<TenantSettings>().Invalidate(ApiFixture.Globex);
        var (secret, _) = await fixture.CreateKeyAsync(ApiFixture.Globex, "chat", "raw models");
        var client = fixture.ClientWith(secret);

        var plain = await client.GetAsync("/v1/models/sim/sim-fast");
        var escaped = await client.GetAsync("/v1/models/sim%2Fsim-fast");
        var notAllowed = await client.GetAsync("/v1/models/smart");

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        var body = await plain.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("sim/sim-fast", body.GetProperty("id").GetString());
        Assert.Equal("model", body.GetProperty("x_keystone_kind").GetString());
        Assert.Equal(HttpStatusCode.OK, escaped.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, notAllowed.StatusCode);
    }

    [Fact]
    public async Task Get_UnknownModel_Is404ModelNotFoundInOpenAisShape()
    {
        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).GetAsync("/v1/models/gpt-9-ultra");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("not_found_error", error.GetProperty("type").GetString());
        Assert.Contains("gpt-9-ultra", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ModelOutsideTheKeysAllowList_Is404LikeAnUnknownOne()
    {
        var (adminSecret, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "admin", "provisioning");
        var created = await fixture.ClientWith(adminSecret).PostAsync("/api/v1/keys", new StringContent(
            """{"name":"fast only","scopes":["chat"],"models":["fast"]}""", Encoding.UTF8, "application/json"));
        created.EnsureSuccessStatusCode();
        var secret = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
        var client = fixture.ClientWith(secret);

        var allowed = await client.GetAsync("/v1/models/fast");
        var other = await client.GetAsync("/v1/models/smart");

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Equal("model_not_found", (await ChatCompletionsApiTests.ErrorOf(other)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task OpenAiSdk_GetModel_ReturnsItAndRaisesItsNormalExceptionForAMissingOne()
    {
        var models = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetOpenAIModelClient();

        var model = await models.GetModelAsync("smart");
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("no-such-model"));

        Assert.Equal("smart", model.Value.Id);
        Assert.Equal("keystone", model.Value.OwnedBy);
        Assert.Equal(404, ex.Status);
        Assert.Contains("model_not_found", ex.Message, StringComparison.Ordinal);
    }
}
