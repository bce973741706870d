using System.Text.RegularExpressions;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Data.Vectors;
using Keystone.Testing;
using Keystone.Web.Features.Knowledge;
using Keystone.Web.Tests.Traces;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Web.Tests.Knowledge;

/// <summary>
/// PostgreSQL full-text search under forced row-level security with the match function marked LEAKPROOF (decision 0055):
/// as the application role, knowledge's text half, its word counts and trace search are served by their GIN indexes,
/// and the tenant policy still filters every row. Two tenants with 1,000 chunks and 300 traces each, analyzed, so the
/// planner sees a realistic table (a word in a handful of rows, the tenant in half of them).
/// </summary>
public sealed partial class FullTextUnderRowLevelSecurityTests : IAsyncLifetime
{
    private const int ChunksPerTenant = 1_000;
    private const int TracesPerTenant = 300;
    private static readonly Guid Acme = TraceTestData.Acme;
    private static readonly Guid Globex = TraceTestData.Globex;

    private readonly string _acmeWord = Word("acmepart");
    private readonly string _globexWord = Word("globexpart");
    private PostgresTestDatabase _db = default!;
    private KeystoneDbFactory _factory = default!;
    private Guid _acmeDocument;

    private static string Word(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8].Replace('0', 'q');

    public async Task InitializeAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        _factory = _db.CreateFactory();
        await TraceTestData.SeedTenantsAsync(_factory);
        _acmeDocument = await SeedKnowledgeAsync(Acme, _acmeWord);
        await SeedKnowledgeAsync(Globex, _globexWord);
        await SeedTracesAsync(Acme, _acmeWord);
        await SeedTracesAsync(Globex, _globexWord);
        await using var owner = new NpgsqlConnection(_db.OwnerConnectionString);
        await owner.OpenAsync();
        // As autovacuum leaves a table in steady state: statistics, and the GIN indexes' pending lists merged (rows
        // inserted since the last vacuum wait in a list every search reads whole, which the planner prices in).
        await using var analyze = new NpgsqlCommand("VACUUM ANALYZE knowledge_chunks, knowledge_documents, llm_traces", owner);
        await analyze.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    /// <summary>A document of 1,000 chunks: every chunk holds the common words, five hold <paramref name="rare"/>.</summary>
    private async Task<Guid> SeedKnowledgeAsync(Guid tenant, string rare)
    {
        var document = new KnowledgeDocument
        {
            Id = Guid.CreateVersion7(), TenantId = tenant, Name = rare + ".md", Title = rare, Kind = "markdown", Tags = KnowledgeTags.Store(["manuals"]),
            ContentHash = rare, ChunkCount = ChunksPerTenant, CreatedUtc = DateTime.UtcNow, UpdatedUtc = DateTime.UtcNow,
        };
        await using var db = _factory.ForTenant(tenant);
        db.Add(document);
        for (var i = 0; i < ChunksPerTenant; i++)
        {
            db.Add(new KnowledgeChunk
            {
                Id = Guid.CreateVersion7(), TenantId = tenant, DocumentId = document.Id, Position = i, Section = "Manual", Header = "Manual",
                Text = $"The product manual, page {i}. Keep the receipt." + (i % 200 == 0 ? $" Ask about {rare} here." : ""),
                ContentHash = $"{rare}-{i}", TokenCount = 12,
            });
        }

        await db.SaveChangesAsync();
        return document.Id;
    }

    private async Task SeedTracesAsync(Guid tenant, string rare)
    {
        var rows = Enumerable.Range(0, TracesPerTenant)
            .Select(i => TraceTestData.Call(tenant, TraceTestData.T0.AddMinutes(i), i % 100 == 0 ? $"Where is {rare}?" : "Where is my order?"))
            .ToArray();
        await TraceTestData.AddAsync(_factory, rows);
    }

    /// <summary>The plan of <paramref name="sql"/> as the application role with <paramref name="tenant"/> set; sequential scans off, so only an index can find the words.</summary>
    private async Task<List<string>> PlanAsync(Guid tenant, string sql, IEnumerable<NpgsqlParameter> parameters)
    {
        await using var connection = new NpgsqlConnection(_db.AppConnectionString);
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant}', true); SET LOCAL enable_seqscan = off;", connection, tx))
        {
            await set.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand("EXPLAIN " + sql, connection, tx);
        explain.Parameters.AddRange(parameters.ToArray());
        var plan = new List<string>();
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(0));
        }

        return plan;
    }

    private static void AssertGin(List<string> plan, string index)
        => Assert.True(plan.Any(line => line.Contains("Bitmap Index Scan on " + index, StringComparison.Ordinal)), string.Join('\n', plan));

    [Fact]
    public async Task Setup_TheMatchFunctionIsLeakproofInThisDatabaseOnly()
    {
        await using var connection = new NpgsqlConnection(_db.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT proleakproof FROM pg_proc WHERE oid = '{DatabaseMigrator.FullTextMatchFunction}'::regprocedure", connection);

        Assert.True((bool)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task KnowledgeTextQuery_AsTheApplicationRole_IsServedByTheGinIndex_WithAndWithoutFilters()
    {
        var (plain, plainParameters) = PostgresKnowledgeSearch.TextSql(Acme, [_acmeWord], new RetrievalFilter(null, null), 50);
        var (filtered, filteredParameters) = PostgresKnowledgeSearch.TextSql(Acme, [_acmeWord, _globexWord], new RetrievalFilter([_acmeDocument], "manuals"), 50);

        AssertGin(await PlanAsync(Acme, plain, plainParameters), "ix_knowledge_chunks_search_vector");
        AssertGin(await PlanAsync(Acme, filtered, filteredParameters), "ix_knowledge_chunks_search_vector");
    }

    [Fact]
    public async Task TraceSearchQuery_AsTheApplicationRole_IsServedByTheGinIndex()
    {
        await using var db = _factory.ForTenant(Acme);
        var (sql, parameters) = Sql(db.TraceIdsMatching([_acmeWord]));
        var (windowed, windowParameters) = Sql(db.TraceIdsMatching([_acmeWord], TraceTestData.T0, TraceTestData.T0.AddDays(1)));

        AssertGin(await PlanAsync(Acme, sql, parameters), "ix_llm_traces_search_vector");
        AssertGin(await PlanAsync(Acme, windowed, windowParameters), "ix_llm_traces_search_vector");
    }

    [Fact]
    public async Task TextSearches_ThroughTheIndex_NeverSeeAnotherTenantsRowsNorAnyWithoutATenant()
    {
        var search = new PostgresKnowledgeSearch(_factory, new PostgresVectorSearch(_factory), new KnowledgeTermStats(TimeProvider.System));

        // "receipt" and "manual" are in every chunk: left out (decision 54), known from the tenant's one-pass statistics.
        var acme = await search.TextAsync(Acme, [_acmeWord, _globexWord, "receipt", "manual"], new RetrievalFilter(null, null), 50, CancellationToken.None);
        var acmeAskingForGlobex = await search.TextAsync(Acme, [_globexWord], new RetrievalFilter(null, null), 50, CancellationToken.None);
        await using var read = _factory.ForSystem();
        var acmeChunks = await read.Set<KnowledgeChunk>().Where(c => acme.Contains(c.Id)).Select(c => new { c.TenantId, c.Text }).ToListAsync();
        await using var acmeDb = _factory.ForTenant(Acme);
        var acmeTraces = await acmeDb.TraceIdsMatching([_acmeWord]).CountAsync();
        var acmeTracesOfGlobex = await acmeDb.TraceIdsMatching([_globexWord]).CountAsync();

        Assert.Equal(5, acme.Count);
        Assert.All(acmeChunks, c => Assert.Equal((Acme, true), (c.TenantId, c.Text.Contains(_acmeWord, StringComparison.Ordinal))));
        Assert.Empty(acmeAskingForGlobex);
        Assert.Equal(3, acmeTraces);
        Assert.Equal(0, acmeTracesOfGlobex);

        // The raw queries as the application role: another tenant named in the query, or no tenant set, returns nothing.
        await using var connection = new NpgsqlConnection(_db.AppConnectionString);
        await connection.OpenAsync();
        var (sql, parameters) = PostgresKnowledgeSearch.TextSql(Globex, [_globexWord], new RetrievalFilter(null, null), 50);
        Assert.Equal(0, await CountAsync(connection, null, sql, parameters));
        (sql, parameters) = PostgresKnowledgeSearch.TextSql(Globex, [_globexWord], new RetrievalFilter(null, null), 50);
        Assert.Equal(0, await CountAsync(connection, Acme, sql, parameters));
        (sql, parameters) = PostgresKnowledgeSearch.TextSql(Globex, [_globexWord], new RetrievalFilter(null, null), 50);
        Assert.Equal(5, await CountAsync(connection, Globex, sql, parameters));
        var (traces, traceParameters) = Sql(acmeDb.TraceIdsMatching([_acmeWord]));
        Assert.Equal(0, await CountAsync(connection, null, traces, traceParameters));
    }

    [Fact]
    public async Task WordStatistics_OnePassOverTheTenantsOwnChunks_NeverAnotherTenantsNorAnyWithoutATenant()
    {
        var search = new PostgresKnowledgeSearch(_factory, new PostgresVectorSearch(_factory), new KnowledgeTermStats(TimeProvider.System));

        // Through the product: the tenant's chunk count and its words in at least half of its chunks (all 1,000 hold them).
        var acme = await search.CommonWordsAsync(Acme, CancellationToken.None);
        Assert.Equal(ChunksPerTenant, acme.Chunks);
        Assert.Contains("receipt", acme.Lexemes);
        Assert.Contains("manual", acme.Lexemes);
        Assert.DoesNotContain(_acmeWord, acme.Lexemes);

        // The raw pass as the application role, every lexeme (threshold 1): its own tenant's words only, nothing without a
        // tenant, nothing when the query names another tenant than the one set on the connection.
        await using var connection = new NpgsqlConnection(_db.AppConnectionString);
        await connection.OpenAsync();
        var (sql, parameters) = PostgresKnowledgeSearch.CommonWordsSql(Acme, 1);
        var own = await WordsAsync(connection, Acme, sql, parameters);
        Assert.Contains(_acmeWord, own);
        Assert.DoesNotContain(_globexWord, own);
        (sql, parameters) = PostgresKnowledgeSearch.CommonWordsSql(Acme, 1);
        Assert.Empty(await WordsAsync(connection, null, sql, parameters));
        (sql, parameters) = PostgresKnowledgeSearch.CommonWordsSql(Globex, 1);
        Assert.Empty(await WordsAsync(connection, Acme, sql, parameters));

        // The question's words checked against the common lexemes: stemmed as the index is ("manuals" → "manual"), a
        // stop word dropped, the order kept.
        (sql, parameters) = PostgresKnowledgeSearch.SelectiveSql([_acmeWord, "manuals", "the", "receipts", "refund"], acme.Lexemes);
        Assert.Equal([_acmeWord, "refund"], await WordsAsync(connection, Acme, sql, parameters));
    }

    private static async Task<List<string>> WordsAsync(NpgsqlConnection connection, Guid? tenant, string sql, IEnumerable<NpgsqlParameter> parameters)
    {
        await using var tx = await connection.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant?.ToString() ?? ""}', true)", connection, tx))
        {
            await set.ExecuteNonQueryAsync();
        }

        var words = new List<string>();
        await using (var command = new NpgsqlCommand(sql, connection, tx))
        {
            command.Parameters.AddRange(parameters.ToArray());
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                words.Add(reader.GetString(0));
            }
        }

        await tx.CommitAsync();
        return words;
    }

    private static async Task<int> CountAsync(NpgsqlConnection connection, Guid? tenant, string sql, IEnumerable<NpgsqlParameter> parameters)
    {
        await using var tx = await connection.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant?.ToString() ?? ""}', true)", connection, tx))
        {
            await set.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand($"SELECT count(*) FROM ({sql}) q", connection, tx);
        command.Parameters.AddRange(parameters.ToArray());
        var count = (long)(await command.ExecuteScalarAsync())!;
        await tx.CommitAsync();
        return (int)count;
    }

    /// <summary>
    /// The SQL EF sends for <paramref name="query"/> and its parameters, from <c>ToQueryString</c>'s text
    /// (<c>-- name='value' (DbType = …)</c> lines, then the statement); values are strings or UTC times here.
    /// </summary>
    private static (string Sql, List<NpgsqlParameter> Parameters) Sql(IQueryable<Guid> query)
    {
        var parameters = new List<NpgsqlParameter>();
        var sql = new List<string>();
        foreach (var line in query.ToQueryString().Split('\n'))
        {
            var parameter = ParameterLine().Match(line.TrimEnd('\r'));
            if (!parameter.Success)
            {
                sql.Add(line);
                continue;
            }

            var value = parameter.Groups["value"].Value;
            parameters.Add(DateTime.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var time)
                ? new NpgsqlParameter(parameter.Groups["name"].Value, DateTime.SpecifyKind(time, DateTimeKind.Utc))
                : new NpgsqlParameter(parameter.Groups["name"].Value, value));
        }

        return (string.Join('\n', sql), parameters);
    }

    [GeneratedRegex(@"^-- @?(?<name>\w+)='(?<value>.*)'( \(.*\))?$")]
    private static partial Regex ParameterLine();
}
