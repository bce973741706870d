using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Keystone.Testing.Upstreams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// The peer report's loopback provider (OpenAI's protocol, <c>http://127.0.0.1:port/v1/</c>): every chat request gets the
/// same fixed answer, as a chat completion or as a stream of 20 chunks ending in a usage chunk and <c>[DONE]</c>, with
/// the model it was asked for. Bodies are prepared once per model, so the mock's own cost per request is small and equal
/// for every path. A stream whose request carries the hold marker stops after its first words until
/// <see cref="HoldStreams"/>' release is called: the memory curve samples a gateway with N streams surely open at once.
/// </summary>
internal sealed class PeerMock : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, (byte[] Json, byte[][] Events)> _bodies = new();
    private readonly string _answer;
    private readonly byte[] _hold;
    private WebApplication _app = null!;
    private volatile TaskCompletionSource _gate = Released();

    private PeerMock(string answer, string hold)
    {
        _answer = answer;
        _hold = Encoding.UTF8.GetBytes(hold);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>
    /// While on, each stream's arrival (before its body is read) and the flush of its first words are kept
    /// (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>): the stage profile's two points inside the upstream request.
    /// </summary>
    public bool RecordStreams { get; set; }

    private readonly ConcurrentQueue<(long Received, long FirstWords)> _streams = new();

    /// <summary>The streams recorded since the last call.</summary>
    public List<(long Received, long FirstWords)> TakeStreams()
    {
        var list = new List<(long, long)>();
        while (_streams.TryDequeue(out var s))
        {
            list.Add(s);
        }

        return list;
    }

    /// <summary>
    /// A pause after each stream's first words before the rest (the stage profile's <c>--after-first ms</c>): a model that
    /// sends its first token and then the next ones some time later, instead of the whole answer in one burst.
    /// </summary>
    public TimeSpan AfterFirstWords { get; set; }

    /// <summary>Wait before every answer (the goodput series: a provider that takes 20 ms).</summary>
    public TimeSpan AnswerDelay { get; set; }

    public static async Task<PeerMock> StartAsync(string answer, string holdMarker)
    {
        var mock = new PeerMock(answer, holdMarker);
        mock._app = await MockUpstreamServer.StartAppAsync(mock.HandleAsync);
        mock.BaseUrl = new Uri(MockUpstreamServer.OriginOf(mock._app), "/v1/");
        return mock;
    }

    /// <summary>Held streams wait after their first words from now on; call the returned action to let them finish.</summary>
    public Action HoldStreams()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _gate = gate;
        return () =>
        {
            _gate = Released();
            gate.TrySetResult();
        };
    }

    private static TaskCompletionSource Released()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var received = System.Diagnostics.Stopwatch.GetTimestamp();
        var ct = context.RequestAborted;
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, ct);
        var body = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        string model;
        bool stream;
        using (var doc = JsonDocument.Parse(body))
        {
            model = doc.RootElement.TryGetProperty("model", out var m) ? m.GetString() ?? "gpt-4o-mini" : "gpt-4o-mini";
            stream = doc.RootElement.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        }

        var (json, events) = _bodies.GetOrAdd(model, Prepare);
        try
        {
            if (AnswerDelay > TimeSpan.Zero)
            {
                await Task.Delay(AnswerDelay, ct);
            }

            if (!stream)
            {
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = json.Length;
                await context.Response.Body.WriteAsync(json, ct);
                return;
            }

            var gate = body.Span.IndexOf(_hold) >= 0 ? _gate.Task : Task.CompletedTask;
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.StartAsync(ct);
            for (var i = 0; i < events.Length; i++)
            {
                if (i == 2)
                {
                    // After the role chunk and the first words.
                    await gate.WaitAsync(ct);
                }

                await context.Response.Body.WriteAsync(events[i], ct);
                await context.Response.Body.FlushAsync(ct);
                if (i == 1 && RecordStreams)
                {
                    _streams.Enqueue((received, System.Diagnostics.Stopwatch.GetTimestamp()));
                }

                if (i == 1 && AfterFirstWords > TimeSpan.Zero)
                {
                    await Task.Delay(AfterFirstWords, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The gateway went away.
        }
    }

    private (byte[] Json, byte[][] Events) Prepare(string model)
    {
        var json = Encoding.UTF8.GetBytes(MockOpenAiServer.ChatCompletion(model, _answer, promptTokens: 540, completionTokens: 230));
        var pieces = Enumerable.Range(0, 20).Select(i => _answer.Substring(i * _answer.Length / 20, _answer.Length / 20)).ToList();
        var events = MockOpenAiServer.StreamEvents(model, pieces, promptTokens: 540, completionTokens: 230)
            .Select(e => Encoding.UTF8.GetBytes(e + "\n\n")).ToArray();
        return (json, events);
    }

    public async ValueTask DisposeAsync()
    {
        _gate.TrySetResult();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
