using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text.Json;
using Keystone.Testing;
using OpenAI;
using OpenAI.Chat;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// A stream names its trace, provider and model whether or not a keep-alive had to start the response before the
/// provider answered: the trace id as a header on every answer, all three in the first data chunk (issue 20, item 10).
/// Read through the official OpenAI .NET SDK, as a customer's client would.
/// </summary>
public sealed class StreamAttributionTests : IAsyncLifetime
{
    // Keep-alives every 50 ms; the slow stream's first token takes 600 ms, so several go out before the headers are known.
    private readonly KeystoneAppFactory _app = new KeystoneAppFactory().WithSetting("Api:StreamKeepAliveInterval", "00:00:00.050");

    public Task InitializeAsync()
    {
        _ = _app.Server;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _app.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("Take your time [sim:slow=600]")]
    [InlineData("Quick one [sim:slow=0]")]
    public async Task StreamThroughTheSdk_SlowOrFastFirstToken_TraceIdHeaderAndFirstChunkNameTheCall(string prompt)
    {
        var headers = new HeaderCapture();
        var chat = SdkClient(headers).GetChatClient("fast");

        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(prompt)]))
        {
            updates.Add(update);
        }

        var traceHeader = headers.Value("X-Keystone-Trace-Id");
        Assert.NotNull(traceHeader);
        using var first = JsonDocument.Parse(ModelReaderWriter.Write(updates[0]).ToString());
        Assert.Equal(traceHeader, first.RootElement.GetProperty("x_keystone_trace_id").GetString());
        Assert.Equal("sim", first.RootElement.GetProperty("x_keystone_provider").GetString());
        Assert.Equal("miss", first.RootElement.GetProperty("x_keystone_cache").GetString());
        Assert.Equal("sim-fast", updates[0].Model);
        Assert.Contains(updates, u => u.FinishReason == ChatFinishReason.Stop);
        // The id names the call that was recorded: the calls API finds it.
        var api = _app.CreateClient();
        api.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        await _app.Services.GetRequiredService<Keystone.Gateway.Recording.CallRecorder>().FlushAsync(CancellationToken.None);
        var call = await api.GetAsync($"/api/v1/calls/{traceHeader}");
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
    }

    [Fact]
    public async Task Stream_SlowFirstToken_KeepAliveGoesOutWithTheTraceIdHeader()
    {
        var client = _app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);

        using var response = await client.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"fast","stream":true,"messages":[{"role":"user","content":"Slow start [sim:slow=600]"}]}""", System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();

        Assert.StartsWith(": keep-alive\n\n", text, StringComparison.Ordinal);
        var traceId = response.Headers.GetValues("X-Keystone-Trace-Id").Single();
        Assert.Contains(traceId.Replace("-", "", StringComparison.Ordinal), response.Headers.GetValues("x-request-id").Single().Replace("-", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        var firstData = text.Split("\n\n").First(e => e.StartsWith("data: ", StringComparison.Ordinal));
        Assert.Contains($"\"x_keystone_trace_id\":\"{traceId}\"", firstData, StringComparison.Ordinal);
    }

    private OpenAIClient SdkClient(HeaderCapture headers)
    {
        var options = new OpenAIClientOptions
        {
            Endpoint = new Uri(_app.Server.BaseAddress, "/v1"),
            Transport = new HttpClientPipelineTransport(_app.CreateClient()),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        };
        options.AddPolicy(headers, PipelinePosition.PerCall);
        return new OpenAIClient(new ApiKeyCredential(KeystoneAppFactory.DemoApiKey), options);
    }

    /// <summary>Keeps the response headers of the last call the SDK made (streams hand back only the updates).</summary>
    private sealed class HeaderCapture : PipelinePolicy
    {
        private PipelineResponseHeaders? _headers;

        public string? Value(string name) => _headers is not null && _headers.TryGetValue(name, out var value) ? value : null;

        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            ProcessNext(message, pipeline, currentIndex);
            _headers = message.Response?.Headers;
        }

        public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            await ProcessNextAsync(message, pipeline, currentIndex);
            _headers = message.Response?.Headers;
        }
    }
}
