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

    // Computed once: the name and the URI were built again on every call (issue 26, the request path's CPU).
    private readonly string _clientName = ProviderRegistry.HttpClientName(name);
    private readonly Dictionary<string, Uri> _configuredUris = [];

    public HttpClient Client() => httpClients.CreateClient(_clientName);

    /// <summary>
    /// <paramref name="path"/> under <paramref name="baseUrl"/>; for the configured base URL built once per path and kept
    /// (a tenant's own base URL, BYOK, is combined per call).
    /// </summary>
    public Uri Url(Uri baseUrl, string path)
    {
        if (!ReferenceEquals(baseUrl, _baseUrl))
        {
            return ProviderHttp.Combine(baseUrl, path);
        }

        lock (_configuredUris)
        {
            if (!_configuredUris.TryGetValue(path, out var uri))
            {
                uri = ProviderHttp.Combine(baseUrl, path);
                _configuredUris[path] = uri;
            }

            return uri;
        }
    }

    /// <summary>The base URL and key of this request: the configured ones, or the tenant's own (BYOK).</summary>
    public (Uri BaseUrl, string? ApiKey) Target(ProviderCredentials? credentials)
        => credentials is null ? (_baseUrl, options.ApiKey) : (credentials.BaseUrl ?? _baseUrl, credentials.ApiKey);
}
