using Keystone.Data;
using Keystone.Data.Vectors;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Caching;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Providers;
using Keystone.Gateway.Recording;
using Keystone.Gateway.Routing;
using Keystone.Gateway.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway;

/// <summary>Registers the gateway: <see cref="ILlmGateway"/>, <see cref="IBudgetService"/>, the BYOK store and the recorder (<see cref="IRecordedCalls"/>).</summary>
public static class GatewayServiceCollectionExtensions
{
    /// <summary>
    /// Adds the gateway pipeline, bound to <c>Gateway:*</c> and validated at start-up, with the configured providers,
    /// the price table and the tokenizer (<see cref="ProvidersServiceCollectionExtensions.AddKeystoneProviders"/>). Extra
    /// adapters may be registered as <see cref="IModelProvider"/>. Needs <see cref="Keystone.Data.KeystoneDbFactory"/>, a <see cref="TimeProvider"/>
    /// and ASP.NET Core Data Protection from the host.
    /// </summary>
    public static IServiceCollection AddKeystoneGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection(GatewayOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<GatewayOptions>, GatewayOptionsDefaults>();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        services.AddSingleton<IValidateOptions<GatewayOptions>, LocalTargetsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();

        services.AddKeystoneProviders(configuration);
        services.TryAddSingleton<IGatewayPricing, PriceBookPricing>();
        services.TryAddSingleton<IPromptTokenCounter, TokenCounterAdapter>();
        services.AddSingleton<ProviderDirectory>();
        // Settings changes reach the other instances at once in PostgreSQL mode (NOTIFY / LISTEN); SQLite has one instance.
        services.AddPerDatabase<SettingsChangeFeed, SqliteSettingsChangeFeed, PostgresSettingsChangeFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<SettingsChangeFeed>());
        services.AddSingleton<TenantSettings>();
        services.AddSingleton<ITenantSettingsCache>(sp => sp.GetRequiredService<TenantSettings>());
        services.AddSingleton<AliasResolver>();
        services.AddSingleton<CircuitBreakers>();
        services.AddSingleton<RequestRateLimiter>();
        services.AddPerDatabase<RateLimitSync, SqliteRateLimitSync, PostgresRateLimitSync>();
        // PostgreSQL mode: rate limits hold across instances (SQLite mode has one instance and nothing to share).
        services.AddHostedService(sp => sp.GetRequiredService<RateLimitSync>());
        services.AddSingleton<BudgetEvents>();
        services.AddPerDatabase<BudgetLedger, SqliteBudgetLedger, PostgresBudgetLedger>();
        // Stopping the host writes the last in-memory counter changes (SQLite mode).
        services.AddHostedService(sp => sp.GetRequiredService<BudgetLedger>());
        // At start (before serving) and periodically: counters rebuilt from the calls in flight and the recorded calls.
        services.AddSingleton<BudgetReconciler>();
        services.AddHostedService(sp => sp.GetRequiredService<BudgetReconciler>());
        services.AddSingleton<IUnpricedCalls, UnpricedCalls>();
        services.AddSingleton<IBudgetService, BudgetService>();
        services.AddSingleton<ExactCache>();
        // The product's one vector search (Keystone.Data), shared with knowledge retrieval: registered here because the
        // gateway's own hosts (tests, benchmarks) build without the web app. TryAdd: the web app may have added it.
        if (!services.Any(d => d.ServiceType == typeof(VectorSearch)))
        {
            services.AddPerDatabase<VectorSearch, SqliteVectorSearch, PostgresVectorSearch>();
        }

        services.AddSingleton<SemanticCache>();
        services.AddSingleton<ICacheSettingsService, CacheSettingsService>();
        services.AddSingleton<IdempotencyStore>();
        services.AddSingleton<ProviderCredentialStore>();
        services.AddSingleton<GatewayTelemetry>();
        // SQLite's batch writer hands the recorder's search texts to the background indexer (decision 0071).
        services.AddSingleton<SearchTextHandoff>();
        services.AddPerDatabase<ICallBatchWriter, SqliteCallBatchWriter, PostgresCallBatchWriter>();
        // SQLite indexes recorded traces for search in the background (off the recorder's path); PostgreSQL on insert.
        services.AddPerDatabase<ITraceIndexer, SqliteTraceIndexer, PostgresTraceIndexer>();
        services.AddSingleton<CallRecorder>();
        services.AddSingleton<IRecordedCalls>(sp => sp.GetRequiredService<CallRecorder>());
        // Stopping the host drains the recorder's queue (graceful shutdown loses no call rows).
        services.AddHostedService(sp => sp.GetRequiredService<CallRecorder>());
        services.AddSingleton<CallPricing>();
        services.AddSingleton<CallAdmission>();
        services.AddSingleton<AnswerReuse>();
        services.AddSingleton<ProviderChain>();
        services.AddSingleton<CallSettlement>();
        services.AddSingleton<ILlmGateway, LlmGateway>();
        // Batch mode (decision 0049): the providers' batch interfaces and the batch path through the ledger and recorder.
        services.AddSingleton<Providers.Batches.BatchProviders>();
        services.AddSingleton<IBatchGateway, Providers.Batches.BatchGateway>();
        return services;
    }
}
