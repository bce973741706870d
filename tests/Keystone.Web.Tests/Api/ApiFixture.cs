using Keystone.Web.Platform;
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using Keystone.Data.Keys;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;

namespace Keystone.Web.Tests.Api;

/// <summary>One running app (SQLite, demo seed, simulated provider) for the API tests of a class, with key helpers.</summary>
public sealed class ApiFixture : IAsyncLifetime, IAsyncDisposable
{
    /// <summary>The app; feature <c>faq</c> uses the semantic cache (threshold 0.85) so its header can be tested.</summary>
    public KeystoneAppFactory App { get; } = new KeystoneAppFactory()
        .WithSetting("Gateway:Features:faq:SemanticCache", "true")
        .WithSetting("Gateway:Features:faq:SemanticThreshold", "0.85");

    public Task InitializeAsync()
    {
        _ = App.Server;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }

    ValueTask IAsyncDisposable.DisposeAsync()
    {
        App.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>A client that sends <paramref name="key"/> as a bearer token.</summary>
    public HttpClient ClientWith(string? key)
    {
        var client = App.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    /// <summary>The official OpenAI SDK pointed at the in-process app's <c>/v1</c>.</summary>
    public OpenAIClient OpenAi(string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(App.Server.BaseAddress, "/v1"),
        Transport = new HttpClientPipelineTransport(App.CreateClient()),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
    });

    /// <summary>Stores a new key for a tenant directly (as the console would) and returns its secret and id.</summary>
    public async Task<(string Secret, Guid Id)> CreateKeyAsync(Guid tenantId, string scopes, string name = "test key", DateTime? expiresUtc = null,
        int? requestsPerMinute = null)
    {
        var secret = ApiKeyHasher.NewKey();
        var id = Guid.NewGuid();
        await using var db = App.CreateSystemDb();
        db.ApiKeys.Add(new ApiKey
        {
            Id = id, TenantId = tenantId, Name = name, Prefix = ApiKeyHasher.PrefixOf(secret), Hash = ApiKeyHasher.Hash(secret),
            Scopes = scopes, CreatedUtc = DateTime.UtcNow, ExpiresUtc = expiresUtc, RequestsPerMinute = requestsPerMinute,
        });
        await db.SaveChangesAsync();
        // The gateway caches each tenant's key limits; the console's key service evicts it the same way.
        App.Services.GetRequiredService<Keystone.Gateway.Pipeline.TenantSettings>().Invalidate(tenantId);
        return (secret, id);
    }

    /// <summary>Waits until every call answered so far is stored (the recorder writes off the request path).</summary>
    public Task FlushCallsAsync() => App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);

    public static Guid Acme => DemoData.AcmeId;

    public static Guid Globex => DemoData.GlobexId;
}
