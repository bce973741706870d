using System.ClientModel;
using System.Net;
using System.Text;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Keystone.Web.Features.Api;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using Keystone.Web.Tests.Shared;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// <c>Api:MaxConcurrentRequests</c> at 2, alias <c>fast</c> on a loopback OpenAI mock: calls held open by the mock fill
/// the slots, the next is refused at once without reaching the provider, and every way a call ends gives its slot back.
/// </summary>
public sealed class LoadSheddingTests(LoadSheddingTests.Fixture fixture) : IClassFixture<LoadSheddingTests.Fixture>
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(15);

    private ApiLoadShedder Shedder => fixture.Api.App.Services.GetRequiredService<ApiLoadShedder>();

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpRequestMessage Chat(bool stream = false) => new(HttpMethod.Post, "/v1/chat/completions")
    {
        Content = Json($$"""{"model":"fast","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hold {{Guid.NewGuid()}}"}]}"""),
    };

    [Fact]
    public async Task Post_BeyondTheLimit_Answers503ServerOverloadedAtOnceAndFreesSlotsWhenHeldCallsFinish()
    {
        var client = fixture.Api.ClientWith(KeystoneAppFactory.DemoApiKey);
        var received = fixture.Upstream.Requests.Count;
        var shedBefore = Shedder.Shed;
        fixture.Upstream.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "Held.", 5, 2)) with { Delay = TimeSpan.FromSeconds(2) });
        fixture.Upstream.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["Held", " stream."], 5, 2), betweenEvents: TimeSpan.FromMilliseconds(400)));
        var held = client.SendAsync(Chat());
        await WaitUntilAsync(() => fixture.Upstream.Requests.Count == received + 1);
        using var streamed = await client.SendAsync(Chat(stream: true), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);

        using var refused = await client.SendAsync(Chat());
        using var embeddings = await client.PostAsync("/v1/embeddings", Json("""{"model":"embed","input":"x"}"""));
        using var prompt = await client.PostAsync("/v1/prompts/support-reply/completions", Json("""{"variables":{}}"""));
        using var models = await client.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        var error = await ChatCompletionsApiTests.ErrorOf(refused);
        Assert.Equal("server_overloaded", error.GetProperty("code").GetString());
        Assert.Equal("api_error", error.GetProperty("type").GetString());
        Assert.Contains("limit of 2 concurrent requests", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, embeddings.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, prompt.StatusCode);
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal(received + 2, fixture.Upstream.Requests.Count);
        Assert.Equal(shedBefore + 3, Shedder.Shed);

        using var heldResponse = await held;
        var streamText = await streamed.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, heldResponse.StatusCode);
        Assert.EndsWith("data: [DONE]\n\n", streamText, StringComparison.Ordinal);
        await WaitUntilAsync(() => Shedder.InFlight == 0);
        using var after = await client.SendAsync(Chat());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(received + 3, fixture.Upstream.Requests.Count);
        await WaitUntilAsync(() => Shedder.InFlight == 0);
    }

    [Fact]
    public async Task Post_CallersDisconnect_EachGivesItsSlotBackOnce()
    {
        var client = fixture.Api.ClientWith(KeystoneAppFactory.DemoApiKey);
        var received = fixture.Upstream.Requests.Count;
        // A stream that has started (one event, then a long pause) and a call the provider never answers.
        fixture.Upstream.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["never", " finished"], 5, 2), betweenEvents: TimeSpan.FromMinutes(5)));
        fixture.Upstream.Enqueue(MockReply.Hang());
        using var leaveStream = new CancellationTokenSource();
        using var leaveHang = new CancellationTokenSource();
        var streamed = await client.SendAsync(Chat(stream: true), HttpCompletionOption.ResponseHeadersRead, leaveStream.Token);
        var body = await streamed.Content.ReadAsStreamAsync(leaveStream.Token);
        Assert.True(await body.ReadAsync(new byte[64], leaveStream.Token) > 0);
        var hanging = client.SendAsync(Chat(), leaveHang.Token);
        await WaitUntilAsync(() => fixture.Upstream.Requests.Count == received + 2);
        using (var full = await client.SendAsync(Chat()))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, full.StatusCode);
        }

        // Going away mid-stream: cancel the read and drop the response, as a client closing its connection does.
        await leaveStream.CancelAsync();
        streamed.Dispose();
        await WaitUntilAsync(() => Shedder.InFlight == 1);
        using (var afterStream = await client.SendAsync(Chat()))
        {
            Assert.Equal(HttpStatusCode.OK, afterStream.StatusCode);
        }

        await leaveHang.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hanging);
        await WaitUntilAsync(() => Shedder.InFlight == 0);

        // Released exactly once each: the count rests at zero, not below (which would admit more than the limit).
        await Task.Delay(200);
        Assert.Equal(0, Shedder.InFlight);
    }

    [Fact]
    public async Task CompleteChat_BeyondTheLimit_OpenAiSdkThrowsClientResultExceptionWith503()
    {
        var received = fixture.Upstream.Requests.Count;
        using var leave = new CancellationTokenSource();
        var holds = await HoldBothSlotsAsync(leave.Token);
        var chat = fixture.Api.OpenAi(KeystoneAppFactory.DemoApiKey).GetChatClient("fast");

        // The fixture's SDK client has retries off (ClientRetryPolicy(maxRetries: 0)), so this is exactly one request.
        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("one too many")]));

        Assert.Equal(503, error.Status);
        Assert.Contains("server_overloaded", error.Message, StringComparison.Ordinal);
        Assert.Equal(received + 2, fixture.Upstream.Requests.Count);
        await ReleaseAsync(leave, holds);
    }

    [Fact]
    public async Task Post_InvalidKeyWhileAtTheLimit_Answers401AndTakesNoSlot()
    {
        using var leave = new CancellationTokenSource();
        var holds = await HoldBothSlotsAsync(leave.Token);

        using var response = await fixture.Api.ClientWith("ks_not_a_real_key_000000000000000000000000").SendAsync(Chat());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, Shedder.InFlight);
        await ReleaseAsync(leave, holds);
    }

    [Fact]
    public void Start_MaxConcurrentRequestsZero_FailsNamingTheSetting()
    {
        using var app = new KeystoneAppFactory().WithSetting("Api:MaxConcurrentRequests", "0");

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());

        Assert.Contains("MaxConcurrentRequests", ExceptionText.Flatten(error), StringComparison.Ordinal);
    }

    private async Task<Task<HttpResponseMessage>[]> HoldBothSlotsAsync(CancellationToken leave)
    {
        var client = fixture.Api.ClientWith(KeystoneAppFactory.DemoApiKey);
        var received = fixture.Upstream.Requests.Count;
        fixture.Upstream.Enqueue(MockReply.Hang());
        fixture.Upstream.Enqueue(MockReply.Hang());
        Task<HttpResponseMessage>[] holds = [client.SendAsync(Chat(), leave), client.SendAsync(Chat(), leave)];
        await WaitUntilAsync(() => fixture.Upstream.Requests.Count == received + 2);
        Assert.Equal(2, Shedder.InFlight);
        return holds;
    }

    private async Task ReleaseAsync(CancellationTokenSource leave, Task<HttpResponseMessage>[] holds)
    {
        await leave.CancelAsync();
        foreach (var hold in holds)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hold);
        }

        await WaitUntilAsync(() => Shedder.InFlight == 0);
    }

    /// <summary>Waits for a condition the server reaches on its own (a request arriving, a slot released), bounded.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Condition not reached within {WaitLimit.TotalSeconds} s.");
            await Task.Delay(20);
        }
    }


    /// <summary>The app with a limit of 2 and alias <c>fast</c> pointing at a loopback OpenAI mock.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public ApiFixture Api { get; } = new();

        public MockOpenAiServer Upstream { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Upstream = await MockOpenAiServer.StartAsync();
            Api.App.WithSetting("Api:MaxConcurrentRequests", "2")
                .WithSetting("Gateway:Providers:mock:Kind", "OpenAI")
                .WithSetting("Gateway:Providers:mock:BaseUrl", Upstream.BaseUrl.ToString())
                .WithSetting("Gateway:Aliases:fast:0", "mock/gpt-4o-mini");
            await Api.InitializeAsync();
        }

        public async Task DisposeAsync()
        {
            await Api.DisposeAsync();
            await Upstream.DisposeAsync();
        }
    }
}
