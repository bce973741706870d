using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Playground;
using Keystone.Testing;
using Keystone.Web.Features.Playground;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Playground;

public sealed class ConversationServiceTests
{
    private static readonly ConversationSettings Settings = new("smart", "Be brief.", 0.2, 256);

    public static TheoryData<string> Providers => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task List_AnotherUsersConversation_IsNotReturnedNorChangeable(string provider)
    {
        await using var store = await Store.CreateAsync(provider);
        var ada = store.ServiceFor("ada", DemoData.AcmeId);
        var max = store.ServiceFor("max", DemoData.AcmeId);
        var mine = await ada.CreateAsync("How do caps work?", Settings, default);

        var listed = await max.ListAsync(default);
        var got = await max.GetAsync(mine.Id, default);
        var renamed = await max.RenameAsync(mine.Id, "stolen", default);
        var deleted = await max.DeleteAsync(mine.Id, default);

        Assert.Empty(listed);
        Assert.Null(got);
        Assert.False(renamed);
        Assert.False(deleted);
        Assert.Equal("How do caps work?", Assert.Single(await ada.ListAsync(default)).Title);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Get_SameUserIdInAnotherTenant_SeesNothing(string provider)
    {
        await using var store = await Store.CreateAsync(provider);
        var inAcme = store.ServiceFor("shared-user", DemoData.AcmeId);
        var inGlobex = store.ServiceFor("shared-user", DemoData.GlobexId);
        var acmeConversation = await inAcme.CreateAsync("Acme secret plan", Settings, default);

        Assert.Null(await inGlobex.GetAsync(acmeConversation.Id, default));
        Assert.Empty(await inGlobex.ListAsync(default));
        await Assert.ThrowsAsync<InvalidOperationException>(() => inGlobex.SaveMessagesAsync(acmeConversation.Id,
            [new ConversationMessage { Role = "user", Content = "x", Sequence = 0 }], default));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Truncate_FromASequence_KeepsTheEarlierMessagesInOrder(string provider)
    {
        await using var store = await Store.CreateAsync(provider);
        var service = store.ServiceFor("ada", DemoData.AcmeId);
        var c = await service.CreateAsync("first", Settings, default);
        await service.SaveMessagesAsync(c.Id,
        [
            new ConversationMessage { Role = "user", Content = "first", Sequence = 0 },
            new ConversationMessage { Role = "assistant", Content = "answer A", Sequence = 1, Variant = 0, RequestedModel = "smart", CostMicros = 120 },
            new ConversationMessage { Role = "assistant", Content = "answer B", Sequence = 1, Variant = 1, RequestedModel = "fast" },
            new ConversationMessage { Role = "user", Content = "second", Sequence = 2 },
            new ConversationMessage { Role = "assistant", Content = "answer C", Sequence = 3, State = AnswerState.Stopped },
        ], default);

        await service.TruncateAsync(c.Id, 2, default);
        var loaded = await service.GetAsync(c.Id, default);

        Assert.NotNull(loaded);
        Assert.Equal(["first", "answer A", "answer B"], loaded.Messages.Select(m => m.Content));
        Assert.Equal(120, loaded.Messages[1].CostMicros);
        Assert.All(loaded.Messages, m => Assert.Equal(DemoData.AcmeId, m.TenantId));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task SaveMessages_ExistingMessage_IsUpdatedNotDuplicated(string provider)
    {
        await using var store = await Store.CreateAsync(provider);
        var service = store.ServiceFor("ada", DemoData.AcmeId);
        var c = await service.CreateAsync("q", Settings, default);
        var answer = new ConversationMessage { Id = Guid.NewGuid(), Role = "assistant", Content = "partial", Sequence = 1, State = AnswerState.Stopped };
        await service.SaveMessagesAsync(c.Id, [answer], default);

        answer.CostMicros = 42;
        await service.SaveMessagesAsync(c.Id, [answer], default);

        var stored = Assert.Single((await service.GetAsync(c.Id, default))!.Messages);
        Assert.Equal(42, stored.CostMicros);
        Assert.Equal(AnswerState.Stopped, stored.State);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Delete_Conversation_RemovesItsMessages(string provider)
    {
        await using var store = await Store.CreateAsync(provider);
        var service = store.ServiceFor("ada", DemoData.AcmeId);
        var c = await service.CreateAsync("q", Settings, default);
        await service.SaveMessagesAsync(c.Id, [new ConversationMessage { Role = "user", Content = "q", Sequence = 0 }], default);

        Assert.True(await service.DeleteAsync(c.Id, default));

        await using var db = store.Factory.ForSystem();
        Assert.Equal(0, await db.ConversationMessages.CountAsync());
    }

    [Fact]
    public void TitleFrom_LongMultilineMessage_TakesTheFirstLineShortened()
    {
        var title = ConversationService.TitleFrom("  " + new string('a', 80) + "\nsecond line");

        Assert.Equal(58, title.Length);
        Assert.EndsWith("…", title);
    }

    /// <summary>A migrated database (SQLite file or PostgreSQL as the RLS-bound app role) with Acme and Globex.</summary>
    private sealed class Store : IAsyncDisposable
    {
        private readonly IAsyncDisposable _database;
        private readonly DatabaseOptions _options;
        private readonly KeystoneConnectionStrings _connections;

        private Store(IAsyncDisposable database, DatabaseOptions options, KeystoneConnectionStrings connections, KeystoneDbFactory factory)
        {
            _database = database;
            _options = options;
            _connections = connections;
            Factory = factory;
        }

        public KeystoneDbFactory Factory { get; }

        public static async Task<Store> CreateAsync(string provider)
        {
            Store store;
            if (provider == "postgres")
            {
                var pg = await PostgresTestDatabase.CreateAsync();
                store = new Store(pg, new DatabaseOptions { Provider = DatabaseProvider.Postgres }, pg.Connections, pg.CreateFactory());
            }
            else
            {
                var lite = await SqliteTestDatabase.CreateAsync();
                store = new Store(lite, lite.Options, lite.Connections, lite.CreateFactory());
            }

            await PlaygroundTestData.SeedTenantsAsync(store.Factory);
            return store;
        }

        /// <summary>The service as a circuit of <paramref name="userId"/> in <paramref name="tenantId"/> would get it.</summary>
        public ConversationService ServiceFor(string userId, Guid tenantId)
        {
            var services = new ServiceCollection();
            services.AddSingleton(Options.Create(_options));
            services.AddKeystoneData(_connections);
            services.AddScoped<TenantContext>();
            services.AddScoped<ITenantContext>(sp => sp.GetRequiredService<TenantContext>());
            var scope = services.BuildServiceProvider().CreateScope();
            scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(PlaygroundTestData.Member(userId, tenantId));
            return new ConversationService(scope.ServiceProvider.GetRequiredService<IDbContextFactory<KeystoneDbContext>>(),
                scope.ServiceProvider.GetRequiredService<TenantContext>(), TimeProvider.System);
        }

        public ValueTask DisposeAsync() => _database.DisposeAsync();
    }
}
