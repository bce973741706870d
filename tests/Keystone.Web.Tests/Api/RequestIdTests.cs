using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// OpenAI's <c>x-request-id</c> on every API answer. It carries the call's trace id, so the id a customer quotes from an
/// SDK error leads support straight to the call.
/// </summary>
public sealed class RequestIdTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Chat() => new("""{"model":"fast","messages":[{"role":"user","content":"Which id do I quote?"}]}""", Encoding.UTF8, "application/json");

    [Fact]
    public async Task Completion_RequestIdCarriesTheTraceIdAndIsRecordedWithTheCall()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        using var response = await client.PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var requestId = response.Headers.GetValues("x-request-id").Single();
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        Assert.Equal($"req_{traceId:N}", requestId);
        await fixture.FlushCallsAsync();
        await using var db = fixture.App.CreateSystemDb();
        var call = await db.Calls.SingleAsync(c => c.TraceId == traceId);
        Assert.Equal(requestId, call.RequestId);
    }

    [Fact]
    public async Task CallsApi_AndFeedback_AcceptTheRequestIdForTheTraceId()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        using var answer = await client.PostAsync("/v1/chat/completions", Chat());
        var requestId = answer.Headers.GetValues("x-request-id").Single();
        await fixture.FlushCallsAsync();

        var call = await client.GetAsync($"/api/v1/calls/{requestId}");
        var feedback = await client.PostAsync("/api/v1/feedback",
            new StringContent($$"""{"traceId":"{{requestId}}","score":"up"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal(answer.Headers.GetValues("X-Keystone-Trace-Id").Single(), (await call.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("traceId").GetString());
        Assert.Equal(HttpStatusCode.Created, feedback.StatusCode);
    }

    [Fact]
    public async Task Refusals_CarryARequestIdToo_EachItsOwn()
    {
        using var unauthenticated = await fixture.ClientWith("ks_not_a_real_key_000000000000000000").PostAsync("/v1/chat/completions", Chat());
        using var invalid = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).PostAsync("/v1/chat/completions",
            new StringContent("{", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var first = unauthenticated.Headers.GetValues("x-request-id").Single();
        var second = invalid.Headers.GetValues("x-request-id").Single();
        Assert.Matches("^req_[0-9a-f]{32}$", first);
        Assert.Matches("^req_[0-9a-f]{32}$", second);
        Assert.NotEqual(first, second);
    }
}
