using System.Net;
using System.Text.Json;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Api;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// Dates at the ends of the calendar and words where numbers belong: a clear 400 in OpenAI's error shape naming the
/// parameter on the API, the page with its defaults in the console, never a 500 (issue 20, item 7).
/// </summary>
public sealed class BoundaryInputTests(ApiFixture api) : IClassFixture<ApiFixture>
{
    private readonly ApiFixture _api = api;

    public static TheoryData<string> ApiUrls() =>
    [
        "/api/v1/calls?to=0001-01-01",
        "/api/v1/calls?from=0001-01-01&to=0001-01-02",
        "/api/v1/calls?from=9999-12-30&to=9999-12-31T23:59:59",
        "/api/v1/usage?to=0001-01-01",
        "/api/v1/usage?from=9999-12-30&to=9999-12-31",
        "/api/v1/usage?from=0001-01-01&to=0001-01-05&groupBy=day",
    ];

    [Theory]
    [MemberData(nameof(ApiUrls))]
    public async Task Get_ApiDateAtTheEndsOfTheCalendar_Answers400InTheErrorShape(string url)
    {
        var (key, _) = await _api.CreateKeyAsync(DemoData.AcmeId, "usage:read", "boundary key");

        var response = await _api.ClientWith(key).GetAsync(url);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_request_error", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(body.RootElement.GetProperty("error").GetProperty("param").GetString()));
    }

    public static TheoryData<string> ConsoleUrls() =>
    [
        "/traces?to=0001-01-01",
        "/traces?from=9999-12-31",
        "/prompts/support-reply?version=abc",
        "/prompts/support-reply?version=99999999999",
        "/margin/export.csv?from=9999-12-30&to=9999-12-31",
        "/margin/export.csv?from=0001-01-01&to=0001-01-02",
        "/margin?from=9999-12-30&to=9999-12-31",
        "/usage?from=0001-01-01",
    ];

    [Theory]
    [MemberData(nameof(ConsoleUrls))]
    public async Task Get_ConsoleRouteWithABadQuery_NeverAnswers500(string url)
    {
        var client = await _api.App.SignInAsync("founder@keystone.demo");

        var response = await client.GetAsync(url);

        Assert.True((int)response.StatusCode < 500, $"{url}: {(int)response.StatusCode}");
    }
}
