using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Keystone.Gateway.Providers.OpenAi;

namespace Keystone.Gateway.Providers.Batches;

/// <summary>
/// The OpenAI Batch API over raw HTTP, for OpenAI-kind providers (and compatible servers that offer it): the lines are
/// uploaded as one JSONL file (<c>POST /files</c>, purpose <c>batch</c>, one
/// <c>{"custom_id","method":"POST","url":"/v1/chat/completions","body"}</c> per line, the body exactly as the live adapter
/// writes it), the batch created (<c>POST /batches</c>, <c>completion_window</c> 24h), polled (<c>GET /batches/{id}</c>),
/// its output and error files read (<c>GET /files/{id}/content</c>) and cancelled (<c>POST /batches/{id}/cancel</c>).
/// The tenant's own key (BYOK) and base URL apply as on the live path.
/// </summary>
internal sealed class OpenAiBatchProvider(string name, ProviderOptions options, IHttpClientFactory httpClients, TimeProvider time) : IBatchModelProvider
{
    private static readonly Uri DefaultBaseUrl = new("https://api.openai.com/v1/");
    private readonly ProviderEndpoint _endpoint = new(name, options, DefaultBaseUrl, httpClients);

    public async Task<ProviderBatchState> SubmitAsync(IReadOnlyList<ProviderBatchLine> lines, ProviderCredentials? credentials, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(credentials);
        var jsonl = Jsonl(lines, options.MaxTokensParameter ?? OpenAiProvider.DefaultMaxTokensParameter(baseUrl));
        var file = new ByteArrayContent(jsonl);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" }, { file, "file", "keystone-batch.jsonl" } };
        using var upload = Message(HttpMethod.Post, ProviderHttp.Combine(baseUrl, "files"), apiKey, form);
        var uploaded = await SendJsonAsync(upload, apiKey, ct);
        var fileId = uploaded.GetProperty("id").GetString() ?? throw new ProviderException($"{name}: the file upload answered no id.", null, isRetryable: true);

        var create = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["input_file_id"] = fileId,
            ["endpoint"] = "/v1/chat/completions",
            ["completion_window"] = "24h",
        });
        using var createMessage = Message(HttpMethod.Post, ProviderHttp.Combine(baseUrl, "batches"), apiKey, Json(create));
        return State(await SendJsonAsync(createMessage, apiKey, ct));
    }

    public async Task<ProviderBatchState> GetAsync(string batchId, ProviderCredentials? credentials, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(credentials);
        using var message = Message(HttpMethod.Get, ProviderHttp.Combine(baseUrl, "batches/" + Uri.EscapeDataString(batchId)), apiKey, null);
        return State(await SendJsonAsync(message, apiKey, ct));
    }

    public async Task<ProviderBatchState> CancelAsync(string batchId, ProviderCredentials? credentials, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(credentials);
        using var message = Message(HttpMethod.Post, ProviderHttp.Combine(baseUrl, "batches/" + Uri.EscapeDataString(batchId) + "/cancel"), apiKey, null);
        return State(await SendJsonAsync(message, apiKey, ct));
    }

    public async Task<IReadOnlyList<ProviderBatchResult>> ResultsAsync(ProviderBatchState batch, ProviderCredentials? credentials, CancellationToken ct)
    {
        var results = new List<ProviderBatchResult>(batch.Total);
        foreach (var fileId in new[] { batch.OutputFileId, batch.ErrorFileId })
        {
            if (string.IsNullOrEmpty(fileId))
            {
                continue;
            }

            var (baseUrl, apiKey) = _endpoint.Target(credentials);
            using var message = Message(HttpMethod.Get, ProviderHttp.Combine(baseUrl, "files/" + Uri.EscapeDataString(fileId) + "/content"), apiKey, null);
            using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                results.Add(ParseResultLine(line));
            }
        }

        return results;
    }

    /// <summary>One line of an output or error file: <c>{"custom_id", "response": {"status_code", "body"}, "error"}</c>.</summary>
    internal ProviderBatchResult ParseResultLine(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var customId = root.GetProperty("custom_id").GetString() ?? "";
            if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                return new ProviderBatchResult(customId, null, ErrorText(error));
            }

            if (!root.TryGetProperty("response", out var response) || response.ValueKind != JsonValueKind.Object)
            {
                return new ProviderBatchResult(customId, null, "The provider returned the line without a response or an error.");
            }

            var status = response.TryGetProperty("status_code", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt32() : 0;
            var body = response.TryGetProperty("body", out var b) ? b : default;
            if (status != 200)
            {
                var detail = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object
                    ? ErrorText(e) : $"status {status}";
                return new ProviderBatchResult(customId, null, $"{name} returned {status}: {detail}");
            }

            return new ProviderBatchResult(customId, OpenAiResponseReader.ParseChat(Encoding.UTF8.GetBytes(body.GetRawText())), null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new ProviderException($"{name}: a batch result line is not in the Batch API's shape ({ex.Message}).", null, isRetryable: true, inner: ex);
        }
    }

    private static string ErrorText(JsonElement error)
    {
        var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        return code is null ? message ?? "unknown error" : $"{code}: {message}";
    }

    /// <summary>The input file: one request per line, the body as the live adapter writes it (never streamed).</summary>
    internal static byte[] Jsonl(IReadOnlyList<ProviderBatchLine> lines, string maxTokensParameter)
    {
        var buffer = new ArrayBufferWriter<byte>(1024 * Math.Max(1, lines.Count));
        foreach (var line in lines)
        {
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("custom_id", line.CustomId);
                w.WriteString("method", "POST");
                w.WriteString("url", "/v1/chat/completions");
                w.WritePropertyName("body");
                OpenAiRequestWriter.WriteChatBody(w, line.Request, stream: false, maxTokensParameter);
                w.WriteEndObject();
            }

            buffer.Write("\n"u8);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private ProviderBatchState State(JsonElement b)
    {
        try
        {
            var counts = b.TryGetProperty("request_counts", out var rc) && rc.ValueKind == JsonValueKind.Object ? rc : default;
            string? error = null;
            if (b.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object
                && errors.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array && data.GetArrayLength() > 0)
            {
                error = string.Join("; ", data.EnumerateArray().Take(5).Select(ErrorText));
            }

            return new ProviderBatchState(
                b.GetProperty("id").GetString() ?? "",
                b.GetProperty("status").GetString() ?? "",
                Count(counts, "total"), Count(counts, "completed"), Count(counts, "failed"),
                OptionalString(b, "output_file_id"), OptionalString(b, "error_file_id"), error);
        }
        catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException)
        {
            throw new ProviderException($"{name}: the answer is not a batch object ({ex.Message}).", null, isRetryable: true, inner: ex);
        }

        static int Count(JsonElement counts, string field)
            => counts.ValueKind == JsonValueKind.Object && counts.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;

        static string? OptionalString(JsonElement e, string field)
            => e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    private async Task<JsonElement> SendJsonAsync(HttpRequestMessage message, string? apiKey, CancellationToken ct)
    {
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new ProviderException($"{name}: the answer is not JSON ({ex.Message}).", (int)response.StatusCode, isRetryable: true, inner: ex);
        }
    }

    private static ByteArrayContent Json(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = ProviderHttp.JsonMediaType;
        return content;
    }

    private HttpRequestMessage Message(HttpMethod method, Uri uri, string? apiKey, HttpContent? content)
    {
        var message = new HttpRequestMessage(method, uri) { Content = content };
        ProviderHttp.AddApiKey(message, options, apiKey);

        return message;
    }
}
