using System.Net;
using System.Text.Json;
using Keystone.Testing;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// A form post without its antiforgery token is refused with a 400 and a page that says so, in the Production pipeline
/// (the exception handler, no developer exception page), never a 500 with an empty body (issue 20, item 7).
/// </summary>
public sealed class AntiforgeryFailureTests(ProductionAppFixture fixture) : IClassFixture<ProductionAppFixture>
{
    public static TheoryData<string> FormRoutes() => ["/Account/Logout", "/Account/SwitchTenant", "/Account/Login", "/Account/ChangePassword"];

    [Theory]
    [MemberData(nameof(FormRoutes))]
    public async Task Post_SignedInWithoutAntiforgeryToken_Answers400WithAPlainPage(string route)
    {
        var client = await fixture.App.SignInAsync("founder@keystone.demo");

        var response = await client.PostAsync(route, new FormUrlEncodedContent(new Dictionary<string, string> { ["returnUrl"] = "/", ["tenantId"] = "" }));

        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("text/html", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        Assert.Contains("form", body, StringComparison.OrdinalIgnoreCase);
        // The protection still holds: the session is untouched.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task Post_AnonymousWithoutAntiforgeryToken_Answers400()
    {
        var client = fixture.App.CreateBrowserLikeClient();

        var response = await client.PostAsync("/Account/Logout", new FormUrlEncodedContent(new Dictionary<string, string> { ["returnUrl"] = "/" }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotEmpty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Post_ApiRouteWithAFormBody_AnswersInTheErrorShape()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions", new FormUrlEncodedContent(new Dictionary<string, string> { ["model"] = "fast" }));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("unsupported_media_type", error.RootElement.GetProperty("error").GetProperty("code").GetString());
    }
}

/// <summary>One app in the Production environment (Release-like pipeline), shared by the tests of a class.</summary>
public sealed class ProductionAppFixture : IAsyncLifetime
{
    public KeystoneAppFactory App { get; } = new KeystoneAppFactory().WithEnvironment("Production");

    public Task InitializeAsync()
    {
        _ = App.Server;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }
}
