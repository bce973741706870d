using System.Collections.Concurrent;
using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keystone.Data.Identity;
using Keystone.Testing;
using Keystone.Web.Features.Traces;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Endpoints;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;
using Xunit.Abstractions;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// Property-style: boundary and malformed values (calendar ends, non-numbers, huge and negative numbers, empty, very
/// long, unicode, RTL, NUL, invalid UTF-8, SQL and HTML metacharacters) in every query parameter and route parameter of
/// every API route and every console page, as every demo role that may open the page. Nothing is listed by hand: the
/// routes come from the endpoint data source and the pages' <c>@page</c> directives, the API's query parameters from
/// what each endpoint actually reads (a recording query collection), the pages' from <c>[SupplyParameterFromQuery]</c>
/// and the trace filter's own query string. Asserted: no 5xx anywhere, and every API error in OpenAI's error shape
/// (issue 20, proof). The Production pipeline, one app for the whole run.
/// </summary>
public sealed partial class QueryFuzzTests(ITestOutputHelper output)
{
    private const int Parallelism = 4;

    /// <summary>The values, each as sent in a URL (most percent-encoded; a few raw on purpose).</summary>
    private static readonly (string Name, string Encoded)[] Values =
    [
        .. new[]
        {
            "", " ", "0", "-1", "-9223372036854775809", "99999999999999999999999999", "1e308", "NaN", "abc", "0x1F", "1.5",
            "0001-01-01", "0001-01-01T00:00:00Z", "9999-12-31", "9999-12-31T23:59:59.9999999Z", "1999-12-31", "2100-01-02", "2026-02-30",
            "00000000-0000-0000-0000-000000000000", new string('x', 3000), "\u0000", "𝕏🙂", "\u202Eevil\u202C", "مرحبا ٣", "' OR 1=1 --",
            "<script>alert(1)</script>", "\"}{\\", "../../etc/passwd", "%", "day", "ok",
        }.Select(v => (Label(v), Uri.EscapeDataString(v))),
        ("raw %00", "%00"), ("raw %ZZ", "%ZZ"), ("raw lone surrogate", "%ED%A0%80"), ("raw overlong /", "%C0%AF"),
    ];

    /// <summary>
    /// The values for route parameters: all but NUL, which the test server refuses to put in a path (it throws before
    /// sending); on a real server Kestrel refuses a NUL in the path before the app runs (EdgeRejectionTests).
    /// </summary>
    private static readonly (string Name, string Encoded)[] PathValues = [.. Values.Where(v => v.Encoded != "%00")];

    [Fact]
    public async Task Send_BoundaryAndMalformedValues_ToEveryParameterOfEveryRouteAndPage_NeverAnswers5xx()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var app = new RecordingApp();
        app.WithEnvironment("Production");
        _ = app.Server;
        var samples = await SamplesAsync(app);
        var roles = await RoleClientsAsync(app);
        var api = app.CreateClient();
        api.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);

        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            // Pages are enumerated from their components below; static files and Hangfire's dashboard files take no parameters.
            .Where(e => e.Metadata.GetMetadata<ComponentTypeMetadata>() is null && !e.Metadata.Any(m => m.GetType().Name.Contains("StaticAsset", StringComparison.Ordinal))
                && !e.RoutePattern.RawText!.Contains("{**path", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => new Route(e, m)))
            .Where(r => r.Method != "HEAD" && r.Method != "OPTIONS")
            .ToList();

        // Discovery: each endpoint once with its sample values; the recorder notes every query key the request read.
        foreach (var route in endpoints)
        {
            await SendAsync(route.IsApi ? api : roles[Roles.PlatformAdmin], route.Method, route.Url(samples, null), route.IsApi);
        }

        var recorder = app.Services.GetRequiredService<QueryKeyRecorder>();
        var undocumented = new List<string>();
        foreach (var route in endpoints)
        {
            route.QueryKeys = recorder.KeysOf(route.Key);
            if (route.IsApi)
            {
                var text = string.Join(' ', route.Endpoint.Metadata.OfType<IEndpointDescriptionMetadata>().Select(d => d.Description)
                    .Concat(route.Endpoint.Metadata.OfType<IEndpointSummaryMetadata>().Select(s => s.Summary)));
                undocumented.AddRange(route.QueryKeys.Where(k => !Regex.IsMatch(text, $"\\b{Regex.Escape(k)}\\b")).Select(k => $"{route.Key} reads ?{k}"));
            }
        }

        foreach (var route in endpoints.Where(r => r.QueryKeys.Count > 0))
        {
            output.WriteLine($"{route.Key} reads {string.Join(", ", route.QueryKeys)}");
        }

        // A page's query parameters: its [SupplyParameterFromQuery] properties; the trace search's are its filter's query string.
        var pages = Pages().ToList();
        var pageKeys = pages.SelectMany(p => p.QueryKeys).Concat(TraceFilterKeys()).Concat(endpoints.SelectMany(r => r.QueryKeys))
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

        var cases = new List<Case>();
        foreach (var route in endpoints)
        {
            var client = route.IsApi ? api : roles[Roles.PlatformAdmin];
            foreach (var key in route.QueryKeys)
            {
                cases.AddRange(Values.Select(v => new Case(client, route.Method, route.Url(samples, $"{Uri.EscapeDataString(key)}={v.Encoded}"), route.IsApi, $"{route.Key} ?{key}={v.Name}")));
            }

            foreach (var parameter in route.Endpoint.RoutePattern.Parameters)
            {
                cases.AddRange(PathValues.Select(v => new Case(client, route.Method, route.Url(samples with { Override = (parameter.Name, v.Encoded) }, null), route.IsApi,
                    $"{route.Key} {{{parameter.Name}}}={v.Name}")));
            }
        }

        foreach (var page in pages)
        {
            var openers = page.Anonymous ? ["anonymous"] : Policies.RolesFor[page.Policy!].Where(roles.ContainsKey).ToList();
            for (var r = 0; r < openers.Count; r++)
            {
                var client = roles[openers[r]];
                // Every value in every page parameter at once, as the first role that may open the page; a rotating share
                // of the values as each other role (the parameters are read the same way, the rendering differs by role).
                var values = r == 0 ? Values : Values.Where((_, i) => i % openers.Count == r).ToArray();
                cases.AddRange(values.Select(v => new Case(client, "GET", page.Url(samples, string.Join('&', pageKeys.Select(k => $"{k}={v.Encoded}"))), false,
                    $"{page.Template} as {openers[r]}, every parameter={v.Name}")));
            }

            // Each parameter alone too (a page ignores what does not parse, so the combined requests above already met every
            // value in every parameter; alone, each meets a rotating third of them, which keeps the run near a minute).
            var owner = roles[openers[0]];
            var own = page.QueryKeys.Concat(page.Template == "/traces" ? TraceFilterKeys() : []).ToList();
            for (var k = 0; k < own.Count; k++)
            {
                var key = own[k];
                cases.AddRange(Values.Where((_, i) => own.Count < 3 || i % 3 == k % 3)
                    .Select(v => new Case(owner, "GET", page.Url(samples, $"{key}={v.Encoded}"), false, $"{page.Template} ?{key}={v.Name}")));
            }

            foreach (var parameter in page.Parameters)
            {
                cases.AddRange(PathValues.Select(v => new Case(owner, "GET", page.Url(samples with { Override = (parameter, v.Encoded) }, null), false,
                    $"{page.Template} {{{parameter}}}={v.Name}")));
            }
        }

        var failures = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (c, _) =>
        {
            if (await SendAsync(c.Client, c.Method, c.Url, c.Api) is { } failure)
            {
                failures.Add($"{c.Name}: {failure}");
            }
        });

        output.WriteLine($"{cases.Count} requests ({cases.Count(c => c.Api)} API, {cases.Count(c => !c.Api)} console) over {endpoints.Count} endpoint methods "
            + $"({endpoints.Count(r => r.IsApi)} API) and {pages.Count} pages, {Values.Length} values, {endpoints.Sum(r => r.QueryKeys.Count)} API/endpoint query parameters "
            + $"and {pageKeys.Count} page query parameters; {failures.Count} failures; {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Empty(undocumented);
        Assert.True(failures.IsEmpty, string.Join('\n', failures.Take(25)));
        Assert.True(endpoints.Count(r => r.IsApi) >= 20 && pages.Count >= 20, "the enumeration found the routes");
        Assert.Contains(endpoints, r => r.Key == "GET /api/v1/calls" && r.QueryKeys.Contains("cursor"));
    }

    // null when the answer is acceptable, else what was wrong.
    private static async Task<string?> SendAsync(HttpClient client, string method, string url, bool api)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        }

        try
        {
            using var response = await client.SendAsync(request);
            var status = (int)response.StatusCode;
            var body = await response.Content.ReadAsStringAsync();
            if (status >= 500)
            {
                return $"{status} {body[..Math.Min(300, body.Length)]}";
            }

            if (api && status >= 400 && !IsErrorShape(body))
            {
                return $"{status} without the error shape: {body[..Math.Min(300, body.Length)]}";
            }

            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidOperationException or TaskCanceledException)
        {
            return $"threw {ex.GetType().Name}: {ex.Message}";
        }
    }

    private static bool IsErrorShape(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var error = json.RootElement.GetProperty("error");
            return error.GetProperty("message").ValueKind == JsonValueKind.String && error.GetProperty("type").ValueKind == JsonValueKind.String
                && error.TryGetProperty("code", out _);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Every routable component's templates, with the policy that guards it and its own query parameters.</summary>
    private static IEnumerable<Page> Pages()
    {
        foreach (var type in typeof(Program).Assembly.GetTypes().Where(t => typeof(IComponent).IsAssignableFrom(t)))
        {
            var keys = type.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
                .Select(p => (p.Name, Attribute: p.GetCustomAttribute<SupplyParameterFromQueryAttribute>()))
                .Where(p => p.Attribute is not null).Select(p => p.Attribute!.Name ?? p.Name).ToList();
            foreach (var route in type.GetCustomAttributes<RouteAttribute>())
            {
                yield return new Page(route.Template, type.GetCustomAttribute<AuthorizeAttribute>()?.Policy,
                    type.GetCustomAttribute<AllowAnonymousAttribute>() is not null, keys,
                    RoutePatternFactory.Parse(route.Template).Parameters.Select(p => p.Name).ToList());
            }
        }
    }

    /// <summary>The trace search page's query parameters: its filter's own query string with every field set.</summary>
    private static IEnumerable<string> TraceFilterKeys()
    {
        var full = new TraceFilter
        {
            User = "u", Feature = "f", Model = "m", Status = TraceStatusFilter.Ok, PromptName = "p", PromptVersionId = Guid.NewGuid(),
            MinCostMicros = 1, MaxCostMicros = 2, MinLatencyMs = 1, MaxLatencyMs = 2, FromUtc = DateTime.UtcNow, ToUtc = DateTime.UtcNow,
            TraceId = Guid.NewGuid(), Text = "t", Sort = TraceSort.Cost,
        };
        // A field added to the filter without a value here would be left out of the run: fail instead.
        Assert.All(typeof(TraceFilter).GetProperties().Where(p => p.CanWrite), p => Assert.NotNull(p.GetValue(full)));
        return full.ToQueryString().Split('&').Select(pair => pair.Split('=')[0]);
    }

    /// <summary>Route values that exist in the demo data, so a page or endpoint gets past its "not found".</summary>
    private static async Task<Samples> SamplesAsync(KeystoneAppFactory app)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);
        using var call = await client.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"fast","messages":[{"role":"user","content":"hello [sim:slow=0][sim:tps=0]"}]}""", System.Text.Encoding.UTF8, "application/json"));
        var traceId = call.Headers.GetValues("X-Keystone-Trace-Id").Single();
        await app.Services.GetRequiredService<Keystone.Gateway.Recording.CallRecorder>().FlushAsync(CancellationToken.None);
        // The demo's global eval set of support-reply (seeded from prompts/support-reply/eval.jsonl).
        var evalSet = (await app.Services.CreateScope().ServiceProvider.GetRequiredService<Keystone.Web.Features.Evals.EvalSetStore>()
            .ListSetsAsync("support-reply", CancellationToken.None)).First(s => s.TenantId is null).Id;
        return new Samples(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Code"] = "404", ["TenantId"] = DemoData.AcmeId.ToString(), ["Id"] = traceId, ["Name"] = "support-reply", ["traceId"] = traceId,
            ["name"] = "support-reply", ["model"] = "fast", ["feature"] = "fuzz-feature", ["provider"] = "fuzz-provider", ["id"] = Guid.Empty.ToString(),
            ["documentName"] = "v1", ["SetId"] = evalSet.ToString(), ["PromptName"] = "support-reply",
            // An agent run's step (the L2 undo route).
            ["step"] = "0",
            // The playground's open conversation in the address: any text is a valid address (issue 21).
            ["ConversationId"] = Guid.Empty.ToString(),
        }, null);
    }

    private static async Task<Dictionary<string, HttpClient>> RoleClientsAsync(KeystoneAppFactory app)
    {
        var clients = new Dictionary<string, HttpClient> { ["anonymous"] = app.CreateBrowserLikeClient() };
        foreach (var user in DemoData.Users.GroupBy(u => u.Role).Select(g => g.First()))
        {
            clients[user.Role] = await app.SignInAsync(user.Email);
        }

        return clients;
    }

    private static string Label(string value) => value.Length switch
    {
        0 => "(empty)",
        > 40 => $"({value.Length} × '{value[0]}')",
        _ => value.Replace("\0", "\\0", StringComparison.Ordinal),
    };

    private sealed record Case(HttpClient Client, string Method, string Url, bool Api, string Name);

    private sealed record Samples(IReadOnlyDictionary<string, string> Values, (string Name, string Encoded)? Override)
    {
        public string ValueOf(string parameter)
        {
            if (Override is { } o && o.Name == parameter)
            {
                return o.Encoded;
            }

            return Values.TryGetValue(parameter, out var value)
                ? Uri.EscapeDataString(value)
                : throw new InvalidOperationException($"No sample value for route parameter {{{parameter}}}: add one to SamplesAsync.");
        }

        public string Fill(string template, string? query)
        {
            var path = RouteParameter().Replace(template, m => ValueOf(m.Groups[1].Value));
            return (path.StartsWith('/') ? path : "/" + path) + (query is null ? "" : "?" + query);
        }
    }

    private sealed record Page(string Template, string? Policy, bool Anonymous, IReadOnlyList<string> QueryKeys, IReadOnlyList<string> Parameters)
    {
        public string Url(Samples samples, string? query) => samples.Fill(Template, query);
    }

    private sealed class Route(RouteEndpoint endpoint, string method)
    {
        public RouteEndpoint Endpoint { get; } = endpoint;

        public string Method { get; } = method;

        public string Key => $"{Method} /{Endpoint.RoutePattern.RawText!.TrimStart('/')}";

        public bool IsApi => ApiRoutes.Contains(new PathString("/" + Endpoint.RoutePattern.RawText!.TrimStart('/')));

        public IReadOnlyList<string> QueryKeys { get; set; } = [];

        public string Url(Samples samples, string? query) => samples.Fill(Endpoint.RoutePattern.RawText!, query);
    }

    [GeneratedRegex(@"\{\**([^}:=?]+)[^}]*\}")]
    private static partial Regex RouteParameter();

    /// <summary>The app with <see cref="QueryKeyRecorder"/> in front of its pipeline.</summary>
    private sealed class RecordingApp : KeystoneAppFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services
                .AddSingleton<QueryKeyRecorder>()
                .AddSingleton<IStartupFilter, QueryKeyRecorder.Filter>());
        }
    }
}

/// <summary>
/// Notes which query keys each endpoint reads: the request's query collection is replaced by one that remembers every
/// key looked up (indexer, <c>TryGetValue</c>, <c>ContainsKey</c>; minimal-API binding reads through the indexer).
/// </summary>
internal sealed class QueryKeyRecorder
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _keys = new(StringComparer.Ordinal);

    public IReadOnlyList<string> KeysOf(string route) => _keys.TryGetValue(route, out var keys) ? [.. keys.Keys.Order(StringComparer.Ordinal)] : [];

    internal sealed class Filter(QueryKeyRecorder recorder) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (http, nextMiddleware) =>
            {
                var read = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
                var original = http.Features.Get<IQueryFeature>() ?? new QueryFeature(http.Features);
                http.Features.Set<IQueryFeature>(new RecordingQueryFeature(original, read));
                await nextMiddleware(http);
                if (http.GetEndpoint() is RouteEndpoint endpoint)
                {
                    var keys = recorder._keys.GetOrAdd($"{http.Request.Method} /{endpoint.RoutePattern.RawText!.TrimStart('/')}", _ => new(StringComparer.Ordinal));
                    foreach (var key in read.Keys)
                    {
                        keys.TryAdd(key, 0);
                    }
                }
            });
            next(app);
        };
    }

    private sealed class RecordingQueryFeature(IQueryFeature inner, ConcurrentDictionary<string, byte> read) : IQueryFeature
    {
        public IQueryCollection Query
        {
            get => new RecordingQuery(inner.Query, read);
            set => inner.Query = value;
        }
    }

    private sealed class RecordingQuery(IQueryCollection inner, ConcurrentDictionary<string, byte> read) : IQueryCollection
    {
        public StringValues this[string key]
        {
            get
            {
                read.TryAdd(key, 0);
                return inner[key];
            }
        }

        public int Count => inner.Count;

        public ICollection<string> Keys => inner.Keys;

        public bool ContainsKey(string key)
        {
            read.TryAdd(key, 0);
            return inner.ContainsKey(key);
        }

        public bool TryGetValue(string key, out StringValues value)
        {
            read.TryAdd(key, 0);
            return inner.TryGetValue(key, out value);
        }

        public IEnumerator<KeyValuePair<string, StringValues>> GetEnumerator() => inner.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
