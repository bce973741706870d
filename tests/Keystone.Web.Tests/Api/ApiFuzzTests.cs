using Keystone.Web.Platform;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// Thousands of malformed bodies (truncated JSON, wrong types, huge strings, broken UTF-8, deep nesting,
/// escaped lone surrogates) against every body-taking endpoint: never a 5xx, always OpenAI's error shape.
/// The seed is fixed, so a failure reproduces.
/// </summary>
public sealed class ApiFuzzTests
{
    private const int Seed = 20261122;
    private const int Iterations = 2500;

    private static readonly (string Method, string Path, string Template)[] Targets =
    [
        ("POST", "/v1/chat/completions", """{"model":"fast","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi [sim:slow=0][sim:tps=0]"}],"temperature":0.5,"max_tokens":20,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}],"tool_choice":"auto","response_format":{"type":"text"},"user":"u","stream":false,"stream_options":{"include_usage":true}}"""),
        ("POST", "/v1/embeddings", """{"model":"embed","input":["a","b"],"encoding_format":"float","dimensions":8,"user":"u"}"""),
        ("POST", "/api/v1/feedback", """{"traceId":"01a20549-343e-7b45-9aa3-477c00fef6d4","score":"up","comment":"ok","user":"u"}"""),
        ("PUT", "/api/v1/budgets", """{"caps":[{"scope":"feature","key":"fuzz","period":"day","limitMicros":500000}],"softThresholdsPercent":[50,80],"actionAtLimit":"block"}"""),
        ("POST", "/api/v1/keys", """{"name":"fuzz","scopes":["chat","embeddings"],"requestsPerMinute":60,"capMicros":1000000,"capPeriod":"day","expiresUtc":"2027-06-01T00:00:00Z"}"""),
    ];

    private static readonly string[] Values =
    [
        "null", "true", "false", "0", "-1", "1e999", "-0.0", "3.5", "9223372036854775808", "\"\"", "\"x\"", "[]", "{}", "[[[]]]",
        "\"\\ud800\"", "\"\\u0000\"", "\"day\"", "\"tenant\"", "\"user\"", "[\"a\",1]", "{\"type\":\"function\"}", "\"json_schema\"",
    ];

    [Fact]
    public async Task Send_MalformedBodies_NeverAnswer5xxAndAlwaysUseTheErrorShape()
    {
        // An instant simulated provider: bodies that survive mutation and are served must not slow the run down.
        await using var fixture = new ApiFixture();
        fixture.App.WithSetting("Gateway:Providers:sim:Kind", "Simulated")
            .WithSetting("Gateway:Providers:sim:Simulated:TimeToFirstTokenMs", "0")
            .WithSetting("Gateway:Providers:sim:Simulated:TokensPerSecond", "0")
            // Feedback bodies name trace ids that never exist: answer their 404 at once rather than after the grace period.
            .WithSetting("Api:FeedbackGracePeriod", "00:00:00");
        await fixture.InitializeAsync();
        var (key, _) = await fixture.CreateKeyAsync(DemoData.InitechId, "admin", "fuzz key");
        var client = fixture.ClientWith(key);
        var random = new Random(Seed);
        var failures = new List<string>();

        for (var i = 0; i < Iterations && failures.Count < 3; i++)
        {
            var (method, path, template) = Targets[random.Next(Targets.Length)];
            var body = Mutate(template, random);
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(random.Next(20) == 0 ? "text/plain" : "application/json");

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                failures.Add($"#{i} {method} {path} did not answer: {Encoding.UTF8.GetString(body)[..Math.Min(400, body.Length)]}");
                continue;
            }

            using var disposeResponse = response;

            var status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync();
            if (status >= 500)
            {
                failures.Add($"#{i} {method} {path} answered {status}: {text[..Math.Min(300, text.Length)]} for {Encoding.UTF8.GetString(body)[..Math.Min(600, body.Length)]}");
            }
            else if (status >= 400 && !IsErrorShape(text))
            {
                failures.Add($"#{i} {method} {path} answered {status} without the error shape: {text[..Math.Min(300, text.Length)]}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    private static bool IsErrorShape(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.TryGetProperty("error", out var e)
                && e.GetProperty("message").ValueKind == JsonValueKind.String
                && e.GetProperty("type").ValueKind == JsonValueKind.String
                && e.TryGetProperty("code", out _) && e.TryGetProperty("param", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static byte[] Mutate(string template, Random random)
    {
        var text = template;
        var bytes = Encoding.UTF8.GetBytes(text);
        switch (random.Next(10))
        {
            case 0:
                return bytes[..random.Next(bytes.Length)];
            case 1:
                {
                    var copy = bytes.ToArray();
                    for (var k = random.Next(1, 6); k > 0; k--)
                    {
                        copy[random.Next(copy.Length)] = (byte)random.Next(256);
                    }

                    return copy;
                }

            case 2:
                {
                    var at = random.Next(bytes.Length);
                    byte[] broken = random.Next(2) == 0 ? [0xC3] : [0xFF, 0xFE, 0x80];
                    return [.. bytes[..at], .. broken, .. bytes[at..]];
                }

            case 3:
                {
                    // Word-like text: a single unbroken 300 KB "word" is a separate, known tokenizer cost (see docs/api.md).
                    var word = new string((char)random.Next('a', 'z'), random.Next(1, 12));
                    var huge = string.Join(' ', Enumerable.Repeat(word, random.Next(1_000, 10_000)));
                    return Encoding.UTF8.GetBytes(ReplaceValue(text, random, $"\"{huge}\""));
                }

            case 4:
                {
                    var depth = random.Next(50, 2000);
                    return Encoding.UTF8.GetBytes(ReplaceValue(text, random, new string('[', depth) + new string(']', depth)));
                }

            case 5:
                return Encoding.UTF8.GetBytes(Values[random.Next(Values.Length)]);
            case 6:
                return [];
            default:
                for (var k = random.Next(1, 4); k > 0; k--)
                {
                    text = ReplaceValue(text, random, Values[random.Next(Values.Length)]);
                }

                return Encoding.UTF8.GetBytes(text);
        }
    }

    // Replaces the value after a random ':' (up to the next ',' or '}') — crude on purpose: it also breaks JSON.
    private static string ReplaceValue(string text, Random random, string value)
    {
        var colons = Enumerable.Range(0, text.Length).Where(i => text[i] == ':').ToList();
        var start = colons[random.Next(colons.Count)] + 1;
        var end = start;
        while (end < text.Length && text[end] is not (',' or '}'))
        {
            end++;
        }

        return text[..start] + value + text[end..];
    }
}
