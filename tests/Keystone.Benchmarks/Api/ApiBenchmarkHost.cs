using Keystone.Web.Platform.Http;
using Keystone.Web.Platform;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Tenancy;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Keystone.Web.Features.Keys;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Benchmarks.Api;

/// <summary>
/// The real web app (Program, the whole middleware pipeline) on Kestrel at a loopback port, with an OpenAI-compatible
/// provider <c>bench</c> pointing at a loopback <see cref="MockOpenAiServer"/>, alias <c>bench</c> mapped to it, a
/// tenant whose plan never rate-limits, and an API key created through the real <see cref="ApiKeyService"/>.
/// No demo seed. Clients talk raw HTTP to both the app and the mock.
/// </summary>
internal sealed class ApiBenchmarkHost : IAsyncDisposable
{
    private KestrelAppFactory _app = null!;

    public MockOpenAiServer Upstream { get; private set; } = null!;

    /// <summary><c>http://127.0.0.1:port/</c> of the app.</summary>
    public Uri AppOrigin { get; private set; } = null!;

    /// <summary>The tenant API key (chat scope), sent as a bearer token.</summary>
    public string ApiKey { get; private set; } = "";

    public IServiceProvider Services => _app.Services;

    internal CallRecorder Recorder => _app.Services.GetRequiredService<CallRecorder>();

    /// <summary>
    /// Turns call recording on or off in the running app (diagnostics only; the product always records). The gateway
    /// reads the monitored options' current instance per call, so flipping the flag on it takes effect at once.
    /// </summary>
    internal void Recording(bool on) => _app.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>().CurrentValue.RecordingDisabledForBenchmarks = !on;

    public static async Task<ApiBenchmarkHost> StartAsync()
    {
        var upstream = await MockOpenAiServer.StartAsync();
        upstream.KeepRequests = false;
        var host = await StartAsync(upstream.BaseUrl, new Dictionary<string, string?>());
        host.Upstream = upstream;
        return host;
    }

    /// <summary>
    /// The app against an upstream at <paramref name="upstreamBaseUrl"/> (another process's mock: the peer report runs the
    /// app as a process of its own), with extra <paramref name="settings"/>.
    /// </summary>
    /// <param name="productEmbeddings">The product's <c>embed</c> alias (the local model, loaded on first use) instead of the
    /// test factory's simulated embeddings: the peer report measures the app's memory as deployed.</param>
    public static async Task<ApiBenchmarkHost> StartAsync(Uri upstreamBaseUrl, IReadOnlyDictionary<string, string?> settings, bool productEmbeddings = false,
        Microsoft.AspNetCore.Hosting.IStartupFilter? outermost = null)
    {
        var host = new ApiBenchmarkHost();
        host._app = new KestrelAppFactory { Outermost = outermost };
        if (productEmbeddings)
        {
            host._app.WithLocalEmbeddings();
        }

        host._app
            .WithSetting("Seed:Demo", "false")
            .WithSetting("Seed:DemoApiKey", null)
            .WithSetting("Seed:DemoPassword", null)
            .WithSetting("Gateway:Providers:bench:Kind", "OpenAI")
            .WithSetting("Gateway:Providers:bench:BaseUrl", upstreamBaseUrl.ToString())
            .WithSetting("Gateway:Aliases:bench:0", "bench/gpt-4o-mini");
        foreach (var (key, value) in settings)
        {
            host._app.WithSetting(key, value);
        }

        host._app.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        host._app.StartServer();
        var address = host._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        host.AppOrigin = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));

        var tenantId = Guid.NewGuid();
        var planId = Guid.NewGuid();
        await using (var db = host._app.Services.GetRequiredService<KeystoneDbFactory>().ForSystem())
        {
            db.Plans.Add(new Plan { Id = planId, Name = "Bench", DefaultRequestsPerMinute = int.MaxValue });
            host.TenantId = tenantId;
            db.Tenants.Add(new Tenant { Id = tenantId, Name = "Bench", Slug = "bench", PlanId = planId, CreatedUtc = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }

        await using (var scope = host._app.Services.CreateAsyncScope())
        {
            scope.ServiceProvider.GetRequiredService<TenantContext>().UseScope(TenantScope.For(tenantId));
            var created = await scope.ServiceProvider.GetRequiredService<ApiKeyService>()
                .CreateAsync(new NewApiKey("benchmark", [ApiKeyScopes.Chat]), CancellationToken.None);
            host.ApiKey = created.Secret;
        }

        return host;
    }

    /// <summary>
    /// A keep-alive client without proxy or decompression (the measured client). Like a load generator (wrk, k6)
    /// it holds a bounded pool: without a bound, a stall at 2,000 req/s opened a connection per waiting request
    /// (14,000 sockets in 5 s, then the process died with "Out of memory."). A request waiting for a connection
    /// still counts that wait, since open-loop latency runs from the request's due time.
    /// </summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = 1024,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        UseCookies = false,
        AllowAutoRedirect = false,
    })
    { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>The same body to the app's <c>/v1/chat/completions</c> (with the key) or straight to the mock.</summary>
    public HttpRequestMessage ChatRequest(bool throughKeystone, byte[] body)
    {
        var url = throughKeystone ? new Uri(AppOrigin, "/v1/chat/completions") : new Uri(Upstream.BaseUrl, "chat/completions");
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body), Version = HttpVersion.Version11 };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (throughKeystone)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        }

        return request;
    }

    /// <summary>The temporary folder of the app's SQLite database (the peer report measures what it stores).</summary>
    public string DataDirectory => _app.DataDirectory;

    /// <summary>The tenant the key belongs to.</summary>
    public Guid TenantId { get; private set; }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        if (Upstream is not null)
        {
            await Upstream.DisposeAsync();
        }
    }

    /// <summary>The test factory's settings, in the Production environment (as deployed), on Kestrel.</summary>
    private sealed class KestrelAppFactory : KeystoneAppFactory
    {
        /// <summary>A middleware in front of the whole pipeline (the stage profile), or none.</summary>
        public Microsoft.AspNetCore.Hosting.IStartupFilter? Outermost { get; init; }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            if (Outermost is { } filter)
            {
                builder.ConfigureServices(s => s.Insert(0, ServiceDescriptor.Singleton(filter)));
            }

            builder.UseEnvironment("Production");
            // WebApplicationFactory reads its manifest from the working directory, which under `dotnet run` is the
            // repository root, not the output folder: resolve Keystone.Web's folder from the manifest ourselves.
            var manifest = Path.Combine(AppContext.BaseDirectory, "MvcTestingAppManifest.json");
            var roots = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(manifest))!;
            builder.UseContentRoot(roots.First(r => r.Key.StartsWith("Keystone.Web,", StringComparison.Ordinal)).Value);
        }
    }
}
