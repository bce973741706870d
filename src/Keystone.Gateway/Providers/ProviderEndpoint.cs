namespace Keystone.Gateway.Providers;

/// <summary>
/// Where and how an HTTP provider adapter sends: its configured base URL (or the vendor's default), its timeouts,
/// its named <see cref="HttpClient"/>, and per-request BYOK credentials, which replace the key and, when given,
/// the base URL.
/// </summary>
internal sealed class ProviderEndpoint(string name, ProviderOptions options, Uri defaultBaseUrl, IHttpClientFactory httpClients)
{
    private readonly Uri _baseUrl = options.BaseUrl is null ? defaultBaseUrl : new Uri(options.BaseUrl);

    /// <summary>Time allowed for a whole non-streamed answer, or for a stream's response headers.</summary>
    public TimeSpan Timeout { get; } = TimeSpan.FromSeconds(options.TimeoutSeconds);

    /// <summary>Longest silence allowed between two stream events.</summary>
    public TimeSpan IdleTimeout { get; } = TimeSpan.FromSeconds(options.StreamIdleTimeoutSeconds);

    public HttpClient Client() => httpClients.CreateClient(ProviderRegistry.HttpClientName(name));

    /// <summary>The base URL and key of this request: the configured ones, or the tenant's own (BYOK).</summary>
    public (Uri BaseUrl, string? ApiKey) Target(ProviderCredentials? credentials)
        => credentials is null ? (_baseUrl, options.ApiKey) : (credentials.BaseUrl ?? _baseUrl, credentials.ApiKey);
}
