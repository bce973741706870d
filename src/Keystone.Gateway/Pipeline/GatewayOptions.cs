using System.ComponentModel.DataAnnotations;

namespace Keystone.Gateway.Pipeline;

/// <summary>The gateway's settings (<c>Gateway:*</c>); validated at start-up, failing with the setting's name.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>
    /// The aliases every install has unless configuration names them: chat on the simulated provider, and <c>embed</c> on
    /// the local model (real meaning, offline, free; decision 0036). <c>Gateway:Aliases:embed:0=openai/text-embedding-3-small</c>
    /// replaces it.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> DefaultAliases = new Dictionary<string, string[]>
    {
        ["fast"] = ["sim/sim-fast"],
        ["smart"] = ["sim/sim-smart"],
        ["reasoning"] = ["sim/sim-reasoning"],
        ["embed"] = [$"{Providers.GatewayProvidersOptions.DefaultLocalName}/{Providers.Local.LocalEmbeddingModel.Name}"],
    };

    /// <summary>Alias → ordered <c>provider/model</c> targets (<c>Gateway:Aliases:smart:0</c>). Defaults: <see cref="DefaultAliases"/>.</summary>
    public Dictionary<string, List<string>> Aliases { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Alias → cheaper alias served when a cap with action <c>degrade</c> is reached. Default: <c>smart → fast</c>, <c>reasoning → smart</c>.</summary>
    public Dictionary<string, string> DegradeTo { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Output token limit assumed for the budget reservation when the caller gives none. Default 1024.</summary>
    [Range(1, 1_000_000)]
    public int DefaultMaxTokens { get; set; } = 1024;

    /// <summary>Time one provider attempt may take before the next target is tried (for streams: until the first token). Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest one call may run, from admission to its last token, whatever its attempts (each attempt's timeout is cut
    /// to what is left; a stream still running then ends with its error event). It bounds how long a budget reservation can
    /// belong to a live call, so the reconciler can tell a reservation left by a crashed process from one in flight.
    /// Default 10 min; at least <see cref="AttemptTimeout"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxCallDuration { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often the budget counters are reconciled with the reservations in flight and the recorded calls (they are also
    /// reconciled at start). Default 1 min.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan BudgetReconcileInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How calls to a model without a price row are costed or refused (<c>Gateway:UnpricedModels:*</c>).</summary>
    public UnpricedModelsOptions UnpricedModels { get; set; } = new();

    /// <summary>
    /// A reservation older than this belongs to no live call: <see cref="MaxCallDuration"/> plus a minute for the
    /// settlement's own retries.
    /// </summary>
    internal TimeSpan ReservationStaleAfter => MaxCallDuration + TimeSpan.FromMinutes(1);

    /// <summary>Consecutive failures that open a target's circuit. Default 5.</summary>
    [Range(1, 1000)]
    public int CircuitFailureThreshold { get; set; } = 5;

    /// <summary>How long an open circuit stays open before one probe is let through. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long exact- and semantic-cache answers live. Default 1 h.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The embedding alias the semantic cache embeds questions with. Default <c>embed</c>.</summary>
    public string SemanticCacheAlias { get; set; } = "embed";

    /// <summary>Whether <see cref="SemanticCacheAlias"/> names a configured alias or a <c>provider/model</c>.</summary>
    internal bool HasEmbeddingModel => Aliases.ContainsKey(SemanticCacheAlias) || Routing.ModelTarget.TryParse(SemanticCacheAlias, out _);

    /// <summary>A feature's cache settings: the tenant's own (the caching page) when it set them, else the platform's.</summary>
    internal FeatureOptions? FeatureFor(TenantSnapshot? tenant, string feature)
        => tenant?.FeatureCache.GetValueOrDefault(feature) ?? Features.GetValueOrDefault(feature);

    /// <summary>How long an idempotency key returns its first result. Default 24 h.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan IdempotencyTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long an in-flight claim on an idempotency key holds if its call never finishes (a crashed process). Default 10 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan IdempotencyInFlightTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Requests per minute per user (console user or end user) when nothing more specific applies. Default 600.</summary>
    [Range(1, 10_000_000)]
    public int UserRequestsPerMinute { get; set; } = 600;

    /// <summary>
    /// The per-user limit that applies in a tenant: its own (set on the budgets page or <c>PUT /api/v1/budgets</c>,
    /// decision 75), else <see cref="UserRequestsPerMinute"/>. The one place the rule lives: the gateway enforces it, the
    /// page and the API show it.
    /// </summary>
    public int UserRequestsPerMinuteFor(int? tenantOwn) => tenantOwn ?? UserRequestsPerMinute;

    /// <summary>Requests per minute per API key when neither the key nor the tenant's plan names one. Default 600.</summary>
    [Range(1, 10_000_000)]
    public int ApiKeyRequestsPerMinute { get; set; } = 600;

    /// <summary>
    /// How often an instance shares its rate-limit counts with the others in PostgreSQL mode (decision 20). Default 1 s:
    /// a limit can be overshot by what the other instances admit within one interval.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan RateLimitSyncInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Soft thresholds (percent) for tenants that set none. Default 80.</summary>
    public List<int> DefaultSoftThresholdsPercent { get; set; } = [];

    /// <summary>Per-feature settings (<c>Gateway:Features:support-bot:Cache=true</c>).</summary>
    public Dictionary<string, FeatureOptions> Features { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Capacity of the recorder's queue: callers wait (never drop) when it is full. Default 5,000: a queued call holds its
    /// request and answer (about 7 KB with a 2 KB prompt), so the queue stays near 35 MB on the 2-core box the product is
    /// sized for, and still holds more than two of the writer's largest batches (decision 0048).
    /// </summary>
    [Range(100, 10_000_000)]
    public int RecorderCapacity { get; set; } = 5_000;

    /// <summary>
    /// Most calls written per recorder batch (one transaction). Default 2,000: batches only fill when the writer is
    /// behind, and then larger ones are cheaper per call on SQLite (fewer commits and FTS5 segment merges:
    /// 140 µs of CPU per call at 2,000 against 170–190 µs at 500, <c>--recorder</c> benchmark), at the price of
    /// holding the write lock longer (about 0.3 s) while the writer catches up.
    /// </summary>
    [Range(1, 10_000)]
    public int RecorderBatchSize { get; set; } = 2_000;

    /// <summary>
    /// How long the recorder waits for more calls when a batch is not full. Default 20 ms. Every batch is one
    /// transaction (one commit, one WAL sync on SQLite); at moderate rates writing each call as it arrives makes
    /// that fixed cost per call instead of per batch, and it competes with request handling for the cores.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan RecorderLinger { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// How long the recorder keeps retrying a batch the database refuses (backoff from 200 ms to 5 s) before it writes the
    /// calls one by one and gives up only on the ones that still fail. Default 2 min: an answered call is not lost to a
    /// database restart or a short outage; meanwhile calls queue (up to <see cref="RecorderCapacity"/>).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RecorderRetryWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long tenant settings (caps, model policy, key limits, per-feature cache settings, BYOK keys) are cached in memory. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan SettingsCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>Gateway:RecordingDisabledForBenchmarks</c>: skips recording calls (no call row, no trace). A benchmark setting
    /// only, for measuring what recording costs (docs/benchmarks.md, issue 26): a deployment must leave it false (the
    /// default), since unrecorded calls are missing from usage, traces, dashboards and the budget reconciliation.
    /// </summary>
    public bool RecordingDisabledForBenchmarks { get; set; }
}

/// <summary>Settings for one feature label.</summary>
public sealed class FeatureOptions
{
    /// <summary>Use the exact cache for every request of this feature. Default false.</summary>
    public bool Cache { get; set; }

    /// <summary>Use the exact cache for temperature-0 requests of this feature. Default true.</summary>
    public bool CacheAtTemperatureZero { get; set; } = true;

    /// <summary>
    /// Answer a request from the semantic cache when its context equals a cached one and its last user message is
    /// close in meaning (<c>Gateway:Features:support-bot:SemanticCache=true</c>). Default false: every lookup embeds
    /// the question with <see cref="GatewayOptions.SemanticCacheAlias"/> (a recorded, charged call) before the model is
    /// asked, and a paraphrase is not always the same question.
    /// </summary>
    public bool SemanticCache { get; set; }

    /// <summary>Lowest cosine similarity of the two questions' embeddings that counts as the same question (0.5–1). Default 0.95.</summary>
    public double SemanticThreshold { get; set; } = 0.95;
}

