using System.Text.Json;
using Keystone.Gateway.Providers.Batches;
using Keystone.Gateway.Tokenization;
using Keystone.Testing.Upstreams;

namespace Keystone.Gateway.Tests.Providers;

/// <summary>The OpenAI Batch API adapter over HTTP against the loopback Batch API: submit, poll, fetch, partial failures, expiry, cancel.</summary>
public sealed class OpenAiBatchProviderTests : IAsyncLifetime
{
    private const string PlatformKey = "sk-platform-batch-0123456789";
    private MockOpenAiBatchServer _server = null!;
    private ProviderTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _server = await MockOpenAiBatchServer.StartAsync();
        _host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:openai:Kind"] = "OpenAI",
            ["Gateway:Providers:openai:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:openai:ApiKey"] = PlatformKey,
            ["Gateway:Providers:openai:TimeoutSeconds"] = "5",
            ["Gateway:Providers:anthropic:Kind"] = "Anthropic",
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _server.DisposeAsync();
    }

    private BatchProviders Batches => new(_host.Registry, _host.Get<IHttpClientFactory>(), _host.Get<TokenCounter>(), TimeProvider.System);

    private IBatchModelProvider Provider => Batches.Find("openai")!;

    private static ProviderBatchLine Line(string id, string question, int maxTokens = 64)
        => new(id, ProviderTestHost.For("gpt-4o-mini", ProviderTestHost.Chat(new ChatMessage("system", "Be brief."), new ChatMessage("user", question)), maxTokens));

    [Fact]
    public async Task Submit_UploadsOneJsonlLinePerRequestWithPurposeBatch_AndCreatesA24hBatch()
    {
        var state = await Provider.SubmitAsync([Line("a", "Hours?"), Line("b", "Refunds?", 32)], null, CancellationToken.None);

        Assert.Equal(("validating", 2), (state.Status, state.Total));
        Assert.False(state.IsTerminal);
        var upload = _server.Requests[0];
        Assert.Equal(("POST", "/v1/files", $"Bearer {PlatformKey}"), (upload.Method, upload.Path, upload.Header("authorization")));
        Assert.StartsWith("multipart/form-data", upload.Header("content-type"), StringComparison.Ordinal);
        var lines = _server.InputFiles.Single().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["a", "b"], lines.Select(l => l.GetProperty("custom_id").GetString()));
        Assert.All(lines, l => Assert.Equal(("POST", "/v1/chat/completions", "gpt-4o-mini"),
            (l.GetProperty("method").GetString(), l.GetProperty("url").GetString(), l.GetProperty("body").GetProperty("model").GetString())));
        Assert.Equal(32, lines[1].GetProperty("body").GetProperty("max_tokens").GetInt32());
        Assert.False(lines[0].GetProperty("body").TryGetProperty("stream", out var stream) && stream.GetBoolean());
        Assert.Equal("Refunds?", lines[1].GetProperty("body").GetProperty("messages")[1].GetProperty("content").GetString());
        var create = _server.Requests[1];
        Assert.Equal(("POST", "/v1/batches"), (create.Method, create.Path));
        Assert.Equal(("/v1/chat/completions", "24h"), (create.Json.GetProperty("endpoint").GetString(), create.Json.GetProperty("completion_window").GetString()));
        Assert.StartsWith("file-in-", create.Json.GetProperty("input_file_id").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Poll_InProgressThenCompleted_ResultsCarryAnswersUsageAndThePartialFailure()
    {
        _server.FailLine = id => id == "b";
        var submitted = await Provider.SubmitAsync([Line("a", "Hours?"), Line("b", "Refunds?")], null, CancellationToken.None);

        var first = await Provider.GetAsync(submitted.Id, null, CancellationToken.None);
        var second = await Provider.GetAsync(submitted.Id, null, CancellationToken.None);
        var results = await Provider.ResultsAsync(second, null, CancellationToken.None);

        Assert.Equal(("in_progress", false), (first.Status, first.IsTerminal));
        Assert.Equal(("completed", true, 2, 1, 1), (second.Status, second.IsTerminal, second.Total, second.Completed, second.Failed));
        Assert.NotNull(second.OutputFileId);
        Assert.NotNull(second.ErrorFileId);
        var a = results.Single(r => r.CustomId == "a");
        Assert.Equal((MockOpenAiBatchServer.AnswerText("a"), 10, 8), (a.Response!.Text, a.Response.Usage.InputTokens, a.Response.Usage.OutputTokens));
        var b = results.Single(r => r.CustomId == "b");
        Assert.Null(b.Response);
        Assert.Contains("500", b.Error, StringComparison.Ordinal);
        Assert.Contains(_server.Requests, r => r.Method == "GET" && r.Path == $"/v1/files/{second.OutputFileId}/content");
    }

    [Fact]
    public async Task Poll_ExpiredBatch_AnsweredLinesAreKept_TheRestAreBatchExpired()
    {
        _server.ExpireAfter = 1;
        _server.PollsUntilDone = 0;
        var submitted = await Provider.SubmitAsync([Line("a", "Hours?"), Line("b", "Refunds?"), Line("c", "Ship?")], null, CancellationToken.None);

        var state = await Provider.GetAsync(submitted.Id, null, CancellationToken.None);
        var results = await Provider.ResultsAsync(state, null, CancellationToken.None);

        Assert.Equal(("expired", true, 1, 2), (state.Status, state.IsTerminal, state.Completed, state.Failed));
        Assert.NotNull(results.Single(r => r.CustomId == "a").Response);
        Assert.All(results.Where(r => r.CustomId != "a"), r => Assert.StartsWith("batch_expired:", r.Error, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Cancel_InProgressBatch_IsCancellingThenCancelled_WithNoAnswers()
    {
        _server.PollsUntilDone = 10;
        var submitted = await Provider.SubmitAsync([Line("a", "Hours?")], null, CancellationToken.None);
        await Provider.GetAsync(submitted.Id, null, CancellationToken.None);

        var cancelling = await Provider.CancelAsync(submitted.Id, null, CancellationToken.None);
        var cancelled = await Provider.GetAsync(submitted.Id, null, CancellationToken.None);
        var results = await Provider.ResultsAsync(cancelled, null, CancellationToken.None);

        Assert.Equal(("cancelling", false), (cancelling.Status, cancelling.IsTerminal));
        Assert.Equal(("cancelled", true), (cancelled.Status, cancelled.IsTerminal));
        Assert.Contains(_server.Requests, r => r.Method == "POST" && r.Path == $"/v1/batches/{submitted.Id}/cancel");
        Assert.Null(Assert.Single(results).Response);
    }

    [Fact]
    public async Task Get_UnknownBatch_IsA404ProviderError_AndBringYourOwnKeyIsSent()
    {
        var error = await Assert.ThrowsAsync<ProviderException>(() =>
            Provider.GetAsync("batch_nope", new ProviderCredentials("sk-tenant-own-key-987654"), CancellationToken.None));

        Assert.Equal(404, error.StatusCode);
        Assert.Equal("Bearer sk-tenant-own-key-987654", _server.LastRequest.Header("authorization"));
    }

    [Fact]
    public void Find_ProviderWithoutABatchApi_HasNone()
    {
        Assert.Null(Batches.Find("anthropic"));
        Assert.NotNull(Batches.Find("sim"));
    }
}
