using Keystone.Data;
using Keystone.Data.Tenancy;
using Keystone.Gateway;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Providers;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Testing.Upstreams;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keystone.Benchmarks;

/// <summary>
/// A gateway exactly as the web host builds it (SQLite, price table, recorder) in front of a loopback OpenAI mock,
/// and the same adapter called directly: the difference between the two is what the gateway adds.
/// </summary>
internal sealed class BenchmarkHost : IAsyncDisposable
{
    private SqliteTestDatabase _db = null!;
    private ServiceProvider _services = null!;

    public MockOpenAiServer Upstream { get; private set; } = null!;

    public ILlmGateway Gateway { get; private set; } = null!;

    /// <summary>The adapter the gateway uses, called without the gateway.</summary>
    public IModelProvider Direct { get; private set; } = null!;

    public Guid TenantId { get; private set; }

    internal CallRecorder Recorder => _services.GetRequiredService<CallRecorder>();

    internal KeystoneDbFactory DbFactory => _services.GetRequiredService<KeystoneDbFactory>();

    public static readonly ChatRequest Request = new()
    {
        Model = "chat",
        Messages = [new ChatMessage("system", "You are a concise assistant."), new ChatMessage("user", "Summarize what an LLM gateway does.")],
        MaxTokens = 64,
    };

    public static readonly ProviderChatRequest DirectRequest = new("gpt-4o-mini", Request, 64);

    public static async Task<BenchmarkHost> StartAsync(bool recording = true, bool withCap = true)
    {
        var host = new BenchmarkHost();
        host._db = await SqliteTestDatabase.CreateAsync();
        host.Upstream = await MockOpenAiServer.StartAsync();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Providers:up:Kind"] = "OpenAI",
            ["Gateway:Providers:up:BaseUrl"] = host.Upstream.BaseUrl.ToString(),
            ["Gateway:Aliases:chat:0"] = "up/gpt-4o-mini",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(host._db.CreateFactory());
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddKeystoneGateway(configuration);
        if (!recording)
        {
            services.PostConfigure<GatewayOptions>(o => o.RecordingDisabledForBenchmarks = true);
        }

        host._services = services.BuildServiceProvider();
        await host._services.GetRequiredService<PriceSeeder>().SeedAsync(CancellationToken.None);
        await host._services.GetRequiredService<PriceBook>().ReloadAsync(CancellationToken.None);
        host.Gateway = host._services.GetRequiredService<ILlmGateway>();
        host.Direct = host._services.GetRequiredService<ProviderRegistry>().Get("up");

        var factory = host._db.CreateFactory();
        var planId = Guid.NewGuid();
        host.TenantId = Guid.NewGuid();
        await using (var db = factory.ForSystem())
        {
            db.Plans.Add(new Plan { Id = planId, Name = "Bench", DefaultRequestsPerMinute = int.MaxValue });
            db.Tenants.Add(new Tenant { Id = host.TenantId, Name = "Bench", Slug = "bench", PlanId = planId, CreatedUtc = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }

        if (withCap)
        {
            // A cap that never binds: the benchmark pays for the real reservation and settlement.
            await host._services.GetRequiredService<IBudgetService>().SetAsync(host.TenantId,
                [new BudgetCapInput(BudgetScope.Tenant, null, BudgetPeriod.Month, long.MaxValue / 4)], null, null, CancellationToken.None);
        }

        return host;
    }

    public CallContext Context => new() { TenantId = TenantId, Feature = "bench" };

    public async ValueTask DisposeAsync()
    {
        await Recorder.StopAsync(CancellationToken.None);
        await _services.DisposeAsync();
        await Upstream.DisposeAsync();
        await _db.DisposeAsync();
    }
}
