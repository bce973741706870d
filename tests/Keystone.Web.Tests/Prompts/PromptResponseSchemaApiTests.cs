using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary>A version's model parameters and response schema reach the provider (alias <c>fast</c> on a loopback OpenAI mock).</summary>
public sealed class PromptResponseSchemaApiTests(PromptResponseSchemaApiTests.Fixture fixture) : IClassFixture<PromptResponseSchemaApiTests.Fixture>
{
    [Fact]
    public async Task Post_VersionWithSchemaAndParameters_SendsThemToTheProvider()
    {
        var name = $"s-{Guid.NewGuid():N}"[..16];
        await using (var scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo"))
        {
            var catalog = scope.ServiceProvider.GetRequiredService<PromptCatalog>();
            await catalog.CreatePromptAsync(name, null, new NewPromptVersion("Answer as JSON.", "{{question}}", "fast", 0.3, 77, null,
                """{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}"""), CancellationToken.None);
            await catalog.ActivateAsync(name, 1, null, CancellationToken.None);
        }

        using var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", KeystoneAppFactory.DemoApiKey);
        var response = await client.PostAsync($"/v1/prompts/{name}/completions",
            new StringContent("""{"variables":{"question":"Ship to Norway?"}}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = fixture.Upstream.LastRequest.Json;
        Assert.Equal(0.3, sent.GetProperty("temperature").GetDouble());
        Assert.Equal("json_schema", sent.GetProperty("response_format").GetProperty("type").GetString());
        var schema = sent.GetProperty("response_format").GetProperty("json_schema");
        Assert.Equal(PromptRenderer.ResponseSchemaName, schema.GetProperty("name").GetString());
        Assert.Equal("answer", schema.GetProperty("schema").GetProperty("required")[0].GetString());
    }

    [Fact]
    public async Task CreateVersion_InvalidSchema_IsRefusedAndNothingIsStored()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);
        await using var scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        var catalog = scope.ServiceProvider.GetRequiredService<PromptCatalog>();

        var error = await Assert.ThrowsAsync<PromptException>(() => catalog.CreateVersionAsync(name,
            new NewPromptVersion(null, "{{question}}", "smart", null, null, null, """{"type":"object","properties":{"a":{"type":"strng"}}}"""), CancellationToken.None));

        Assert.Equal(PromptException.Invalid, error.Code);
        await using var db = fixture.App.CreateSystemDb();
        Assert.Equal(2, await db.PromptVersions.CountAsync(v => db.Prompts.Any(p => p.Id == v.PromptId && p.Name == name)));
    }

    public sealed class Fixture : IAsyncLifetime
    {
        public KeystoneAppFactory App { get; } = new();

        public MockOpenAiServer Upstream { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Upstream = await MockOpenAiServer.StartAsync();
            App.WithSetting("Gateway:Providers:mock:Kind", "OpenAI")
                .WithSetting("Gateway:Providers:mock:BaseUrl", Upstream.BaseUrl.ToString())
                .WithSetting("Gateway:Aliases:fast:0", "mock/gpt-4o-mini");
            _ = App.Server;
        }

        public async Task DisposeAsync()
        {
            await App.DisposeAsync();
            await Upstream.DisposeAsync();
        }
    }
}
