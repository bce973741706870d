using System.Net.Http.Headers;
using Keystone.Data;
using Keystone.Data.Keys;
using Keystone.Testing;
using Keystone.Web.Features.Knowledge;
using Keystone.Web.Hosting;
using Keystone.Web.Tests.Data;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Knowledge;

/// <summary>
/// One running app per database for the knowledge tests. Background embedding is paused
/// (<c>Knowledge:PauseEmbedding</c>) so each test drives the embedding job itself and sees exactly what it did.
/// </summary>
public abstract class KnowledgeFixture : IAsyncLifetime
{
    public KeystoneAppFactory App { get; private set; } = default!;

    protected abstract Task<KeystoneAppFactory> CreateAppAsync();

    public abstract bool IsPostgres { get; }

    /// <summary>True: 80-token chunks (mechanics tests); false: the product's defaults (the quality test).</summary>
    protected virtual bool SmallChunks => true;

    /// <summary>The application role's connection string (PostgreSQL only).</summary>
    public virtual string? AppConnectionString => null;

    public async Task InitializeAsync()
    {
        App = (await CreateAppAsync())
            .WithSetting("Knowledge:PauseEmbedding", "true")
            .WithSetting("Knowledge:BatchSize", "100");
        if (SmallChunks)
        {
            // Small chunks, so short test documents still make several.
            App.WithSetting("Knowledge:ChunkTokens", "80").WithSetting("Knowledge:OverlapTokens", "15");
        }

        _ = App.Server;
    }

    public virtual Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }

    public KeystoneDbFactory Db => App.Services.GetRequiredService<KeystoneDbFactory>();

    /// <summary>The embedding job with its own clock (a restart after a kill runs with a clock past the lease).</summary>
    internal KnowledgeEmbeddingJob Job(TimeProvider? clock = null)
        => ActivatorUtilities.CreateInstance<KnowledgeEmbeddingJob>(App.Services, clock ?? TimeProvider.System);

    internal async Task<IReadOnlyList<KnowledgeUploadResult>> IngestAsync(Guid tenantId, params (string Name, string Text)[] files)
        => await IngestAsync(tenantId, [], files);

    internal async Task<IReadOnlyList<KnowledgeUploadResult>> IngestAsync(Guid tenantId, IReadOnlyList<string> tags, params (string Name, string Text)[] files)
    {
        using var scope = App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<KnowledgeIngestion>()
            .IngestAsync(tenantId, files.Select(f => new KnowledgeUpload(f.Name, KnowledgeTestFiles.Utf8(f.Text))).ToList(), tags, CancellationToken.None);
    }

    internal async Task<RetrievalResult> RetrieveAsync(Guid tenantId, RetrievalQuery query)
    {
        using var scope = App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<KnowledgeRetriever>().RetrieveAsync(tenantId, query, null, CancellationToken.None);
    }

    internal IKnowledgeSearch Search => App.Services.GetRequiredService<IKnowledgeSearch>();

    internal Task<string> LiveModelAsync(Guid tenantId) => App.Services.GetRequiredService<KnowledgeModelResolver>().LiveModelAsync(tenantId, CancellationToken.None);

    /// <summary>Stores a new key for a tenant directly (as the console would) and returns a client sending it.</summary>
    public async Task<HttpClient> ClientForAsync(Guid tenantId, string scopes)
    {
        var secret = ApiKeyHasher.NewKey();
        await using (var db = App.CreateSystemDb())
        {
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.NewGuid(), TenantId = tenantId, Name = "knowledge test", Prefix = ApiKeyHasher.PrefixOf(secret), Hash = ApiKeyHasher.Hash(secret),
                Scopes = scopes, CreatedUtc = DateTime.UtcNow,
            });
            await db.SaveChangesAsync();
        }

        App.Services.GetRequiredService<Keystone.Gateway.Pipeline.TenantSettings>().Invalidate(tenantId);
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return client;
    }
}

public sealed class SqliteKnowledgeFixture : KnowledgeFixture
{
    public override bool IsPostgres => false;

    protected override Task<KeystoneAppFactory> CreateAppAsync() => Task.FromResult(new KeystoneAppFactory());
}

/// <summary>SQLite with the product's chunking defaults, for the retrieval-quality test.</summary>
public sealed class SqliteDefaultsKnowledgeFixture : KnowledgeFixture
{
    public override bool IsPostgres => false;

    protected override bool SmallChunks => false;

    // The product's defaults, the local embedding model included: retrieval quality is measured with real meaning.
    protected override Task<KeystoneAppFactory> CreateAppAsync() => Task.FromResult(new KeystoneAppFactory().WithLocalEmbeddings());
}

public sealed class PostgresKnowledgeFixture : KnowledgeFixture
{
    private PostgresTestDatabase _db = default!;

    public override bool IsPostgres => true;

    public override string? AppConnectionString => _db.AppConnectionString;

    protected override async Task<KeystoneAppFactory> CreateAppAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        HangfireSetup.InstallPostgresSchema(_db.Connections);
        return new KeystoneAppFactory()
            .WithSetting("Database:Provider", "Postgres")
            .WithSetting("ConnectionStrings:Postgres", _db.AppConnectionString)
            .WithSetting("ConnectionStrings:PostgresMigrator", _db.OwnerConnectionString);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _db.DisposeAsync();
    }
}
