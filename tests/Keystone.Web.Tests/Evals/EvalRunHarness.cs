using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Testing;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Playground;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Evals;

/// <summary>Records the runs handed to the job queue; the test runs the job itself (in the app, Hangfire does).</summary>
internal sealed class RecordingEvalRunQueue : IEvalRunQueue
{
    public ConcurrentQueue<Guid> Enqueued { get; } = new();

    public void Enqueue(Guid runId) => Enqueued.Enqueue(runId);
}

/// <summary>Records the early polls a batch run asked for; the test polls itself.</summary>
internal sealed class RecordingEvalBatchPollQueue : IEvalBatchPollQueue
{
    public ConcurrentQueue<Guid> Polls { get; } = new();

    public void PollLater(Guid runId, TimeSpan delay) => Polls.Enqueue(runId);
}

/// <summary>
/// Eval runs over the real gateway (<c>AddKeystoneGateway</c>, the built-in simulated provider) on a real migrated
/// database: SQLite, or PostgreSQL as the RLS-bound application role. Acme and Globex, a prompt <c>reply</c> with version 1
/// active globally, and the evals feature's services.
/// </summary>
internal sealed class EvalRunHarness : IAsyncDisposable
{
    private readonly IAsyncDisposable _database;
    private readonly ServiceProvider _services;
    private readonly List<IHostedService> _hosted = [];

    private EvalRunHarness(IAsyncDisposable database, ServiceProvider services, KeystoneDbFactory factory)
    {
        _database = database;
        _services = services;
        Factory = factory;
    }

    public KeystoneDbFactory Factory { get; }

    public IServiceProvider Services => _services;

    public RecordingEvalRunQueue Queue => (RecordingEvalRunQueue)_services.GetRequiredService<IEvalRunQueue>();

    public EvalRunStore Store => _services.GetRequiredService<EvalRunStore>();

    public EvalRunJob Job => _services.GetRequiredService<EvalRunJob>();

    public EvalBatchRunner Batches => _services.GetRequiredService<EvalBatchRunner>();

    public EvalSetStore Sets => _services.GetRequiredService<EvalSetStore>();

    public Guid PromptVersionId { get; private set; }

    public static async Task<EvalRunHarness> CreateAsync(string provider, int concurrency = 2, IReadOnlyDictionary<string, string?>? settings = null)
    {
        IAsyncDisposable database;
        DatabaseOptions options;
        KeystoneConnectionStrings connections;
        KeystoneDbFactory factory;
        if (provider == "postgres")
        {
            var pg = await PostgresTestDatabase.CreateAsync();
            (database, options, connections, factory) = (pg, new DatabaseOptions { Provider = DatabaseProvider.Postgres }, pg.Connections, pg.CreateFactory());
        }
        else
        {
            var lite = await SqliteTestDatabase.CreateAsync();
            (database, options, connections, factory) = (lite, lite.Options, lite.Connections, lite.CreateFactory());
        }

        await PlaygroundTestData.SeedTenantsAsync(factory);
        var values = new Dictionary<string, string?>
        {
            ["Gateway:Aliases:fast:0"] = "sim/sim-fast",
            ["Gateway:Aliases:smart:0"] = "sim/sim-smart",
            ["Evals:RunConcurrency"] = concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // The sampler tests count what each run reads: no overlap re-read.
            ["Evals:SamplerOverlapSeconds"] = "0",
            // Batch mode: a simulated provider whose batches are done at the first poll (alias "bfast").
            ["Gateway:Providers:simb:Kind"] = "Simulated",
            ["Gateway:Providers:simb:Simulated:BatchSeconds"] = "0",
            ["Gateway:Aliases:bfast:0"] = "simb/sim-fast",
            // Nightly runs live unless a test asks for batch (the simulated models have a batch discount).
            ["Evals:NightlyBatch"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(Options.Create(options));
        services.AddKeystoneData(connections);
        services.AddLogging();
        services.AddDataProtection();
        services.AddSingleton(TimeProvider.System);
        services.AddKeystoneGateway(configuration);
        services.AddScoped<TenantContext>();
        services.AddScoped<ITenantContext>(sp => sp.GetRequiredService<TenantContext>());
        services.AddScoped<AuditLog>();
        services.AddOptions<EvalsOptions>().Bind(configuration.GetSection(EvalsOptions.SectionName)).ValidateDataAnnotations();
        services.AddScoped<EvalSetStore>();
        services.AddScoped<EvalRunStore>();
        services.AddScoped<EvalRunner>();
        services.AddSingleton<IEvalRunQueue, RecordingEvalRunQueue>();
        services.AddTransient<EvalRunJob>();
        services.AddScoped<EvalBatchRunner>();
        services.AddSingleton<IEvalBatchPollQueue, RecordingEvalBatchPollQueue>();
        services.AddSingleton<ConsoleNotificationSignal>();
        services.AddScoped<EvalDriftMonitor>();
        services.AddScoped<EvalTolerances>();
        services.AddScoped<EvalTrendQuery>();
        services.AddTransient<EvalNightlyJob>();
        services.AddPerDatabase<IEvalRunRecovery, SqliteEvalRunRecovery, PostgresEvalRunRecovery>(ServiceLifetime.Scoped);
        services.AddScoped<IRecordedCallPayloads, Keystone.Web.Features.Traces.TraceCandidatePayloads>();
        services.AddTransient<EvalSamplerJob>();
        services.AddScoped<EvalCandidateReview>();
        var harness = new EvalRunHarness(database, services.BuildServiceProvider(), factory);
        foreach (var hosted in harness._services.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None);
            harness._hosted.Add(hosted);
        }

        await harness.SeedPromptAsync();
        return harness;
    }

    private async Task SeedPromptAsync()
    {
        await using var db = Factory.ForSystem();
        var prompt = new Prompt { Id = Guid.NewGuid(), Name = "reply", CreatedUtc = DateTime.UtcNow };
        var version = new PromptVersion
        {
            Id = Guid.NewGuid(), PromptId = prompt.Id, Number = 1, SystemTemplate = "Answer briefly.", UserTemplate = "{{question}}",
            ModelAlias = "fast", CreatedByUserId = "editor", CreatedUtc = DateTime.UtcNow,
        };
        db.Prompts.Add(prompt);
        db.PromptVersions.Add(version);
        db.PromptActivations.Add(new PromptActivation { PromptId = prompt.Id, VersionId = version.Id, ActivatedByUserId = "editor", ActivatedUtc = DateTime.UtcNow });
        await db.SaveChangesAsync();
        PromptVersionId = version.Id;
    }

    /// <summary>A set of the prompt <c>reply</c> (global, or a tenant's) with one example per question; each passes when the answer is not empty.</summary>
    public async Task<EvalSetRow> SetAsync(Guid? tenantId, params string[] questions)
    {
        var set = await Sets.CreateSetAsync("reply", tenantId, null, CancellationToken.None);
        foreach (var q in questions)
        {
            await Sets.AddExampleAsync(set.Id, Example(q), "editor", CancellationToken.None);
        }

        return set;
    }

    /// <summary>An example whose question may carry simulated-provider markers (<c>[sim:fail=500]</c>).</summary>
    public static EvalExampleInput Example(string question) =>
        new(new Dictionary<string, string> { ["question"] = question }, null, null, [new EvalExpectation(EvalExpectation.Regex, "\\S")], null);

    /// <summary>Drains the gateway's recorder so call rows can be read.</summary>
    public async Task FlushAsync()
    {
        foreach (var hosted in _hosted)
        {
            await hosted.StopAsync(CancellationToken.None);
        }

        _hosted.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await FlushAsync();
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }
}
