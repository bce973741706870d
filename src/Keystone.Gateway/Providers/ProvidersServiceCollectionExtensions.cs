using System.Net;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Tokenization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Providers;

/// <summary>Registers the provider adapters, the tokenizer and the price table.</summary>
public static class ProvidersServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="GatewayProvidersOptions"/> (validated at start-up: a wrong <c>Kind</c> names the setting),
    /// one named <see cref="HttpClient"/> per provider, <see cref="ProviderRegistry"/>, <see cref="ProviderKeyChecker"/>, <see cref="TokenCounter"/>,
    /// <see cref="PriceSeeder"/>, <see cref="PriceBook"/> and the hosted service that seeds and loads prices.
    /// Call it after the database start-up is registered (hosted services start in order; prices need migrations).
    /// </summary>
    public static IServiceCollection AddKeystoneProviders(this IServiceCollection services, IConfiguration configuration)
    {
        // Idempotent: the gateway's own registration calls this too, and the host may call it first.
        if (services.Any(d => d.ServiceType == typeof(ProviderRegistry)))
        {
            return services;
        }

        services.AddOptionsWithValidateOnStart<GatewayProvidersOptions>().BindConfiguration(GatewayProvidersOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayProvidersOptions>, GatewayProvidersOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(_ => TokenCounter.Instance);

        var names = configuration.GetSection(GatewayProvidersOptions.SectionName + ":Providers").GetChildren().Select(c => c.Key)
            .Append(GatewayProvidersOptions.DefaultSimulatedName).Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (var name in names)
        {
            // No client timeout: streams live as long as they send; the adapters apply their own per-call limits.
            services.AddHttpClient(ProviderRegistry.HttpClientName(name), c => c.Timeout = Timeout.InfiniteTimeSpan)
                .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
                {
                    ConnectTimeout = TimeSpan.FromSeconds(10),
                    PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                    AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate | DecompressionMethods.Brotli,
                    EnableMultipleHttp2Connections = true,
                    // A provider API answers, it does not redirect. A followed redirect would carry custom auth
                    // headers (Anthropic's x-api-key; .NET drops only Authorization) to whatever host the Location
                    // names; a 3xx is reported as the upstream's error instead.
                    AllowAutoRedirect = false,
                    // Keystone's trace context stays inside Keystone: no traceparent / tracestate header to a
                    // third-party provider. Null (not a no-output propagator) also leaves out the handler's diagnostics
                    // stage: the request's hosting activity is always current (logging is on), so that stage created a
                    // client activity and redacted the URI on every provider call for nothing (issue 26: ~2 µs and ~1 KB
                    // a call). Each attempt has its own activity, gateway.attempt (GatewayTelemetry), for listeners.
                    ActivityHeadersPropagator = null,
                })
                // Prompts and keys must not reach the logs: the factory's default handler logs URIs and headers at Debug/Trace.
                .RemoveAllLoggers();
        }

        services.TryAddSingleton<ProviderRegistry>();
        services.TryAddSingleton<ProviderKeyChecker>();
        services.TryAddSingleton<PriceBook>();
        services.TryAddSingleton<PriceSeeder>();
        services.AddHostedService<PriceTableStartup>();
        return services;
    }
}
