using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;

namespace Keystone.Testing.Upstreams;

/// <summary>
/// A loopback OpenAI Batch API (base URL <c>http://127.0.0.1:port/v1/</c>): <c>POST /files</c> (multipart, purpose
/// <c>batch</c>), <c>POST /batches</c>, <c>GET /batches/{id}</c>, <c>POST /batches/{id}/cancel</c> and
/// <c>GET /files/{id}/content</c>, in the documented shapes, so the gateway's real adapter is tested over HTTP. A batch
/// is <c>in_progress</c> for <see cref="PollsUntilDone"/> reads, then <c>completed</c> (or <c>expired</c>, or
/// <c>failed</c>); lines can fail (<see cref="FailLine"/>) or report more output than asked (<see cref="CompletionTokens"/>).
/// </summary>
public sealed class MockOpenAiBatchServer : MockUpstreamServer
{
    private readonly ConcurrentDictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MockBatch> _batches = new(StringComparer.Ordinal);
    private int _next;

    private MockOpenAiBatchServer(WebApplication app) : base(app, "/v1/")
    {
        DefaultReply = Handle;
    }

    public static Task<MockOpenAiBatchServer> StartAsync() => StartAsync(app => new MockOpenAiBatchServer(app));

    /// <summary>Reads of a batch answered <c>in_progress</c> before it ends. Default 1.</summary>
    public int PollsUntilDone { get; set; } = 1;

    /// <summary>Lines (by <c>custom_id</c>) that fail with a 500 in the error file. Default none.</summary>
    public Func<string, bool> FailLine { get; set; } = _ => false;

    /// <summary>Completion tokens a line reports (null: the smaller of 8 and its max tokens). Default null for all.</summary>
    public Func<string, int?> CompletionTokens { get; set; } = _ => null;

    /// <summary>Prompt tokens every answered line reports. Default 10.</summary>
    public int PromptTokens { get; set; } = 10;

    /// <summary>With a value, the batch ends <c>expired</c> with this many lines answered and the rest <c>batch_expired</c>. Default null.</summary>
    public int? ExpireAfter { get; set; }

    /// <summary>Lines answered before a cancel takes effect (they stay in the output file). Default 0.</summary>
    public int AnsweredBeforeCancel { get; set; }

    /// <summary>Every uploaded input file's text, in upload order.</summary>
    public IReadOnlyList<string> InputFiles => [.. _files.Where(f => f.Key.StartsWith("file-in-", StringComparison.Ordinal)).OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => f.Value)];

    /// <summary>Batches created so far.</summary>
    public int BatchCount => _batches.Count;

    /// <summary>The text of a line's answer: <c>Batch answer to &lt;custom_id&gt;.</c></summary>
    public static string AnswerText(string customId) => $"Batch answer to {customId}.";

    private sealed class MockBatch
    {
        public required string Id { get; init; }

        public required string InputFileId { get; init; }

        public required List<(string CustomId, JsonElement Body)> Lines { get; init; }

        public string Status { get; set; } = "validating";

        public int Reads { get; set; }

        public bool CancelAsked { get; set; }

        public string? OutputFileId { get; set; }

        public string? ErrorFileId { get; set; }

        public int Completed { get; set; }

        public int Failed { get; set; }
    }

    private MockReply Handle(RecordedRequest request)
    {
        var path = request.Path;
        if (request.Method == "POST" && path == "/v1/files")
        {
            return Upload(request);
        }

        if (request.Method == "POST" && path == "/v1/batches")
        {
            return Create(request.Json);
        }

        if (path.StartsWith("/v1/batches/", StringComparison.Ordinal))
        {
            var rest = path["/v1/batches/".Length..];
            var cancel = rest.EndsWith("/cancel", StringComparison.Ordinal);
            var id = cancel ? rest[..^"/cancel".Length] : rest;
            if (!_batches.TryGetValue(id, out var batch))
            {
                return Error(404, $"No batch found with id '{id}'.", "invalid_request_error");
            }

            lock (batch)
            {
                if (cancel && request.Method == "POST")
                {
                    if (batch.Status is "validating" or "in_progress")
                    {
                        batch.CancelAsked = true;
                        batch.Status = "cancelling";
                    }

                    return MockReply.Json(200, BatchJson(batch));
                }

                Advance(batch);
                return MockReply.Json(200, BatchJson(batch));
            }
        }

        if (request.Method == "GET" && path.StartsWith("/v1/files/", StringComparison.Ordinal) && path.EndsWith("/content", StringComparison.Ordinal))
        {
            var id = path["/v1/files/".Length..^"/content".Length];
            return _files.TryGetValue(id, out var content) ? MockReply.Json(200, content) : Error(404, $"No such File object: {id}", "invalid_request_error");
        }

        return Error(404, $"mock batch server: no route for {request.Method} {path}", "invalid_request_error");
    }

    private MockReply Upload(RecordedRequest request)
    {
        // Multipart: a "purpose" field and a "file" part; the file's lines are the JSON objects carrying a custom_id.
        if (!request.Body.Contains("name=purpose", StringComparison.Ordinal) || !request.Body.Contains("\r\n\r\nbatch\r\n", StringComparison.Ordinal))
        {
            return Error(400, "purpose must be 'batch'.", "invalid_request_error");
        }

        var lines = request.Body.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("{\"custom_id\"", StringComparison.Ordinal)).ToList();
        var id = $"file-in-{Interlocked.Increment(ref _next):D4}";
        _files[id] = string.Join('\n', lines) + "\n";
        return MockReply.Json(200, JsonSerializer.Serialize(new
        {
            id, @object = "file", bytes = Encoding.UTF8.GetByteCount(_files[id]), created_at = 1_763_000_000, filename = "keystone-batch.jsonl",
            purpose = "batch", status = "processed",
        }));
    }

    private MockReply Create(JsonElement body)
    {
        var fileId = body.GetProperty("input_file_id").GetString()!;
        if (body.GetProperty("endpoint").GetString() != "/v1/chat/completions" || body.GetProperty("completion_window").GetString() != "24h")
        {
            return Error(400, "endpoint must be /v1/chat/completions and completion_window 24h.", "invalid_request_error");
        }

        if (!_files.TryGetValue(fileId, out var content))
        {
            return Error(400, $"No such File object: {fileId}", "invalid_request_error");
        }

        var lines = new List<(string, JsonElement)>();
        foreach (var line in content.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.GetProperty("method").GetString() != "POST" || root.GetProperty("url").GetString() != "/v1/chat/completions")
            {
                return Error(400, "Every line must POST to /v1/chat/completions.", "invalid_request_error");
            }

            lines.Add((root.GetProperty("custom_id").GetString()!, root.GetProperty("body").Clone()));
        }

        var batch = new MockBatch { Id = $"batch_mock{Interlocked.Increment(ref _next):D4}", InputFileId = fileId, Lines = lines };
        _batches[batch.Id] = batch;
        return MockReply.Json(200, BatchJson(batch));
    }

    private void Advance(MockBatch batch)
    {
        if (batch.Status is "completed" or "expired" or "failed" or "cancelled")
        {
            return;
        }

        if (batch.Status == "cancelling")
        {
            Finish(batch, "cancelled", AnsweredBeforeCancel, "batch_cancelled");
            return;
        }

        batch.Reads++;
        if (batch.Reads <= PollsUntilDone)
        {
            batch.Status = "in_progress";
            return;
        }

        if (ExpireAfter is { } answered)
        {
            Finish(batch, "expired", answered, "batch_expired");
        }
        else
        {
            Finish(batch, "completed", batch.Lines.Count, null);
        }
    }

    private void Finish(MockBatch batch, string status, int answered, string? unansweredCode)
    {
        var output = new StringBuilder();
        var errors = new StringBuilder();
        for (var i = 0; i < batch.Lines.Count; i++)
        {
            var (customId, body) = batch.Lines[i];
            var requestId = $"batch_req_{batch.Id}_{i}";
            if (i >= answered)
            {
                batch.Failed++;
                errors.Append(JsonSerializer.Serialize(new
                {
                    id = requestId, custom_id = customId, response = (object?)null,
                    error = new { code = unansweredCode, message = unansweredCode == "batch_expired"
                        ? "This request could not be executed before the completion window expired."
                        : "This request was not executed because the batch was cancelled." },
                })).Append('\n');
                continue;
            }

            if (FailLine(customId))
            {
                batch.Failed++;
                errors.Append("{\"id\":\"").Append(requestId).Append("\",\"custom_id\":\"").Append(customId)
                    .Append("\",\"response\":{\"status_code\":500,\"request_id\":\"req_mock\",\"body\":{\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\"}}},\"error\":null}\n");
                continue;
            }

            batch.Completed++;
            var maxTokens = body.TryGetProperty("max_tokens", out var mt) ? mt.GetInt32() : body.TryGetProperty("max_completion_tokens", out var mct) ? mct.GetInt32() : 16;
            var completion = CompletionTokens(customId) ?? Math.Min(8, maxTokens);
            var model = body.GetProperty("model").GetString()!;
            output.Append("{\"id\":\"").Append(requestId).Append("\",\"custom_id\":\"").Append(customId)
                .Append("\",\"response\":{\"status_code\":200,\"request_id\":\"req_mock\",\"body\":")
                .Append(MockOpenAiServer.ChatCompletion(model, AnswerText(customId), PromptTokens, completion))
                .Append("},\"error\":null}\n");
        }

        if (output.Length > 0)
        {
            batch.OutputFileId = $"file-out-{batch.Id}";
            _files[batch.OutputFileId] = output.ToString();
        }

        if (errors.Length > 0)
        {
            batch.ErrorFileId = $"file-err-{batch.Id}";
            _files[batch.ErrorFileId] = errors.ToString();
        }

        batch.Status = status;
    }

    private static string BatchJson(MockBatch b) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["id"] = b.Id,
        ["object"] = "batch",
        ["endpoint"] = "/v1/chat/completions",
        ["errors"] = null,
        ["input_file_id"] = b.InputFileId,
        ["completion_window"] = "24h",
        ["status"] = b.Status,
        ["output_file_id"] = b.OutputFileId,
        ["error_file_id"] = b.ErrorFileId,
        ["created_at"] = 1_763_000_000,
        ["in_progress_at"] = b.Status == "validating" ? null : 1_763_000_010,
        ["expires_at"] = 1_763_086_400,
        ["request_counts"] = new Dictionary<string, int> { ["total"] = b.Lines.Count, ["completed"] = b.Completed, ["failed"] = b.Failed },
        ["metadata"] = null,
    });

    private static MockReply Error(int status, string message, string type)
        => MockReply.Json(status, JsonSerializer.Serialize(new { error = new { message, type, param = (string?)null, code = (string?)null } }));

    /// <summary>The custom ids of an uploaded input file, in order.</summary>
    public static IReadOnlyList<string> CustomIdsOf(string inputFile)
    {
        var ids = new List<string>();
        foreach (var line in inputFile.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            ids.Add(doc.RootElement.GetProperty("custom_id").GetString()!);
        }

        return ids;
    }
}
