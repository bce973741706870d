using Keystone.Data;
using Keystone.Data.Tenancy;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Recording;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Keystone.Gateway.Tests.Pipeline;

/// <summary>
/// One gateway instance as the web host builds it (<c>AddKeystoneGateway</c> over configuration), on a real test
/// database, with the price table seeded and loaded. Two harnesses over one database are two instances.
/// </summary>
internal sealed class GatewayHarness : IAsyncDisposable
{
    private GatewayHarness(ServiceProvider services, KeystoneDbFactory factory)
    {
        Services = services;
        Factory = factory;
    }

    public ServiceProvider Services { get; }

    public KeystoneDbFactory Factory { get; }

    public ILlmGateway Gateway => Services.GetRequiredService<ILlmGateway>();

    public IBudgetService Budgets => Services.GetRequiredService<IBudgetService>();

    internal CallRecorder Recorder => Services.GetRequiredService<CallRecorder>();

    /// <summary>
    /// Settings that make the simulated provider answer instantly, and embed with it (the hashed bag of words) rather than
    /// with the product's default local model: tests that need real meaning remove <see cref="SimulatedEmbedKey"/>.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> InstantSim = new Dictionary<string, string?>
    {
        ["Gateway:Providers:sim:Kind"] = "Simulated",
        ["Gateway:Providers:sim:Simulated:TimeToFirstTokenMs"] = "0",
        ["Gateway:Providers:sim:Simulated:TokensPerSecond"] = "0",
        [SimulatedEmbedKey] = "sim/sim-embed",
    };

    /// <summary>The setting that points the <c>embed</c> alias at the simulated provider in <see cref="InstantSim"/>.</summary>
    public const string SimulatedEmbedKey = "Gateway:Aliases:embed:0";

    public static async Task<GatewayHarness> CreateAsync(KeystoneDbFactory factory, IReadOnlyDictionary<string, string?>? settings = null,
        TimeProvider? clock = null, Action<IServiceCollection>? configure = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings ?? InstantSim).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(factory);
        services.AddSingleton(clock ?? TimeProvider.System);
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddKeystoneGateway(configuration);
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        await provider.GetRequiredService<PriceSeeder>().SeedAsync(CancellationToken.None);
        await provider.GetRequiredService<PriceBook>().ReloadAsync(CancellationToken.None);
        return new GatewayHarness(provider, factory);
    }

    /// <summary>Creates a tenant (and its plan) to call as.</summary>
    public static async Task<Guid> CreateTenantAsync(KeystoneDbFactory factory, string slug)
    {
        var planId = Guid.NewGuid();
        var tenantId = Guid.NewGuid();
        await using var db = factory.ForSystem();
        db.Plans.Add(new Plan { Id = planId, Name = "Plan " + slug, DefaultRequestsPerMinute = 1_000_000 });
        db.Tenants.Add(new Tenant { Id = tenantId, Name = slug, Slug = slug + "-" + tenantId.ToString("N")[..6], PlanId = planId, CreatedUtc = DateTime.UtcNow });
        await db.SaveChangesAsync();
        return tenantId;
    }

    public static ChatRequest Chat(string text, string model = "fast", int? maxTokens = null, bool? cache = null) => new()
    {
        Model = model,
        Messages = [new ChatMessage("user", text)],
        MaxTokens = maxTokens,
        Cache = cache,
    };

    /// <summary>Reads a whole stream, returning every event.</summary>
    public async Task<List<ChatStreamEvent>> StreamAllAsync(ChatRequest request, CallContext context, CancellationToken ct = default)
    {
        var events = new List<ChatStreamEvent>();
        await foreach (var e in Gateway.StreamAsync(request, context, ct))
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>Waits until queued call rows and in-memory budget counters are written.</summary>
    public async Task FlushAsync()
    {
        await Recorder.FlushAsync(CancellationToken.None);
        await Services.GetRequiredService<BudgetLedger>().FlushAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await Recorder.StopAsync(CancellationToken.None);
        await Services.GetRequiredService<BudgetLedger>().StopAsync(CancellationToken.None);
        await Services.DisposeAsync();
    }
}
