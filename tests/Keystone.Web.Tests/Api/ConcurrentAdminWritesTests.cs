using System.Net;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Keystone.Data.Identity;
using Keystone.Data.Keys;
using Keystone.Gateway.Credentials;
using Keystone.Testing;
using Keystone.Web.Features.Tenants;
using Keystone.Web.Features.Traces;
using Keystone.Web.Hosting;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Keystone.Web.Tests.Api;

/// <summary>One running app on one database for the concurrent-writer tests of a class.</summary>
public abstract class WritesAppFixture : IAsyncLifetime
{
    public KeystoneAppFactory App { get; private set; } = default!;

    protected abstract Task<KeystoneAppFactory> CreateAppAsync();

    public async Task InitializeAsync()
    {
        // The MCP cases register a server on loopback, which the product refuses by default.
        App = (await CreateAppAsync()).WithSetting("Agents:Mcp:AllowPrivateAddresses", "true");
        _ = App.Server;
    }

    public virtual Task DisposeAsync()
    {
        App.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A client that sends <paramref name="key"/> (default: Acme's demo key, every scope) as a bearer token.</summary>
    public HttpClient Client(string key = KeystoneAppFactory.DemoApiKey)
    {
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return client;
    }
}

/// <summary>The embedded default: SQLite on a temporary file.</summary>
public sealed class SqliteWritesFixture : WritesAppFixture
{
    protected override Task<KeystoneAppFactory> CreateAppAsync() => Task.FromResult(new KeystoneAppFactory());
}

/// <summary>The scaled mode: PostgreSQL as the application role (row-level security applies), Hangfire on PostgreSQL.</summary>
public sealed class PostgresWritesFixture : WritesAppFixture
{
    private PostgresTestDatabase _db = default!;

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

/// <summary>
/// Issue 20, items 5 and 6: every write endpoint of <c>/api/v1</c>, enumerated from the endpoint data source, takes 30
/// concurrent writers without a 5xx, and what is stored afterwards agrees with what was answered (the rotation that
/// answered 200 holds the secret that works, exactly one delete answers 204, the stored budget is one of the bodies
/// answered 200). A new write endpoint without a case here fails <see cref="EveryApiWriteEndpoint_HasAConcurrencyCase"/>.
/// </summary>
public abstract class ConcurrentAdminWritesTests(WritesAppFixture fixture, ITestOutputHelper output)
{
    /// <summary>Writers per endpoint.</summary>
    public const int Writers = 30;

    private static readonly Dictionary<string, Func<ConcurrentAdminWritesTests, Task>> Cases = new(StringComparer.Ordinal)
    {
        ["POST /api/v1/keys"] = t => t.CreateKeysAsync(),
        ["PATCH /api/v1/keys/{id:guid}"] = t => t.UpdateKeyAsync(),
        ["POST /api/v1/keys/{id:guid}/rotate"] = t => t.RotateKeyAsync(),
        ["DELETE /api/v1/keys/{id:guid}"] = t => t.RevokeKeyAsync(),
        ["PUT /api/v1/budgets"] = t => t.PutBudgetsAsync(),
        ["DELETE /api/v1/budgets/caps"] = t => t.DeleteBudgetCapAsync(),
        ["PUT /api/v1/cache-settings/{**feature}"] = t => t.PutCacheSettingsAsync(),
        ["DELETE /api/v1/cache-settings/{**feature}"] = t => t.DeleteCacheSettingsAsync(),
        ["PUT /api/v1/provider-keys/{provider}"] = t => t.PutProviderKeyAsync(),
        ["DELETE /api/v1/provider-keys/{provider}"] = t => t.DeleteProviderKeyAsync(),
        ["POST /api/v1/provider-keys/{provider}/test"] = t => t.TestProviderKeyAsync(),
        ["POST /api/v1/feedback"] = t => t.PostFeedbackAsync(),
        ["POST /api/v1/approvals/{id:guid}/approve"] = t => t.DecideApprovalAsync("approve"),
        ["POST /api/v1/approvals/{id:guid}/reject"] = t => t.DecideApprovalAsync("reject"),
        ["POST /api/v1/documents"] = t => t.UploadSameDocumentAsync(),
        ["DELETE /api/v1/documents/{id:guid}"] = t => t.DeleteDocumentAsync(),
        ["POST /api/v1/retrieve"] = t => t.RetrieveAsync(),
        ["POST /api/v1/agents/{id:guid}/runs"] = t => t.StartRunsAsync(),
        ["POST /api/v1/runs/{id:guid}/cancel"] = t => t.CancelRunAsync(),
        ["POST /api/v1/runs/{id:guid}/replay"] = t => t.ReplayRunAsync(),
        ["POST /api/v1/evals/runs"] = t => t.StartEvalRunsAsync(),
        ["PUT /api/v1/evals/sampling"] = t => t.PutSamplingRatesAsync(),
        ["PUT /api/v1/evals/nightly"] = t => t.PutNightlyAliasesAsync(),
        ["POST /api/v1/mcp-servers"] = t => t.RegisterMcpServersAsync(),
        ["POST /api/v1/mcp-servers/{id:guid}/refresh"] = t => t.RefreshMcpServerAsync(),
        ["DELETE /api/v1/mcp-servers/{id:guid}"] = t => t.RemoveMcpServerAsync(),
        ["POST /api/v1/runs/{id:guid}/steps/{step:int}/undo"] = t => t.UndoStepAsync(),
    };

    private static MultipartFormDataContent DocumentForm(string name, string text)
        => new() { { new ByteArrayContent(Encoding.UTF8.GetBytes(text)), "files", name } };

    /// <summary>Thirty uploads of one name with different text: one document, whose chunks are all of the version stored.</summary>
    private async Task UploadSameDocumentAsync()
    {
        var admin = fixture.Client();
        var name = $"conc-{Guid.NewGuid():N}.md";
        string Text(int i) => $"# Writer {i}\n\nWriter {i} wrote this first paragraph.\n\n## Second\n\nWriter {i} wrote this too.\n";

        var answers = await AllAtOnceAsync(i => admin.PostAsync("/api/v1/documents", DocumentForm(name, Text(i))));

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK || IsConflict(a), a.Text));
        await using var db = fixture.App.CreateSystemDb();
        var document = await db.Set<Keystone.Data.Knowledge.KnowledgeDocument>().AsNoTracking().SingleAsync(d => d.Name == name);
        var stored = Enumerable.Range(0, Writers).Single(i => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Text(i)))) == document.ContentHash);
        var chunks = await db.Set<Keystone.Data.Knowledge.KnowledgeChunk>().AsNoTracking().Where(c => c.DocumentId == document.Id).ToListAsync();
        Assert.Equal(document.ChunkCount, chunks.Count);
        Assert.All(chunks, c => Assert.Contains($"Writer {stored} ", c.Header + " " + c.Text, StringComparison.Ordinal));
        Assert.Equal(chunks.Count, chunks.Select(c => c.Position).Distinct().Count());
        Assert.Contains(answers, a => a.Status == HttpStatusCode.OK);
    }

    /// <summary>Thirty deletes of one document: exactly one 204, the rest 404, and it is gone.</summary>
    private async Task DeleteDocumentAsync()
    {
        var admin = fixture.Client();
        var created = await admin.PostAsync("/api/v1/documents", DocumentForm($"conc-{Guid.NewGuid():N}.md", "# Gone\n\nSoon deleted."));
        var id = (await GetBodyAsync(created)).GetProperty("documents")[0].GetProperty("documentId").GetGuid();

        var answers = await AllAtOnceAsync(_ => admin.DeleteAsync($"/api/v1/documents/{id}"));

        Assert.Single(answers, a => a.Status == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.NoContent), a => AssertError(a, HttpStatusCode.NotFound, "not_found"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.Set<Keystone.Data.Knowledge.KnowledgeChunk>().AnyAsync(c => c.DocumentId == id));
    }

    /// <summary>Retrieval writes nothing of its own but is a POST: thirty at once all answer, with the same citations.</summary>
    private async Task RetrieveAsync()
    {
        var admin = fixture.Client();
        var marker = "conc" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync("/api/v1/documents", DocumentForm($"{marker}.md", $"# {marker}\n\nThe {marker} answer lives here."))).StatusCode);

        var answers = await AllAtOnceAsync(_ => admin.PostAsync("/api/v1/retrieve", Json($$"""{"query":"{{marker}}","k":3}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Single(answers.Select(a => a.Body.GetProperty("results")[0].GetProperty("chunkId").GetGuid()).Distinct());
    }

    private static async Task<JsonElement> GetBodyAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    public static TheoryData<string> Endpoints() => [.. Cases.Keys.Order(StringComparer.Ordinal)];

    [Fact]
    public void EveryApiWriteEndpoint_HasAConcurrencyCase()
    {
        var writes = fixture.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => ("/" + (e.RoutePattern.RawText ?? "").TrimStart('/')).StartsWith("/api/v1/", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
                .Where(m => m is "POST" or "PUT" or "PATCH" or "DELETE")
                .Select(m => $"{m} /{e.RoutePattern.RawText!.TrimStart('/')}"))
            .Distinct().Order(StringComparer.Ordinal).ToList();

        Assert.Equal(writes, Cases.Keys.Order(StringComparer.Ordinal).ToList());
    }

    [Theory]
    [MemberData(nameof(Endpoints), MemberType = typeof(ConcurrentAdminWritesTests))]
    public Task Write_ThirtyConcurrentWriters_NoServerErrorAndTheStoredStateAgreesWithTheAnswers(string endpoint) => Cases[endpoint](this);

    private async Task CreateKeysAsync()
    {
        var admin = fixture.Client();
        var run = Guid.NewGuid().ToString("N")[..8];

        var answers = await AllAtOnceAsync(i => admin.PostAsync("/api/v1/keys",
            Json($$"""{"name":"conc-{{run}}-{{i}}","scopes":["chat"],"requestsPerMinute":{{100 + i}},"capMicros":{{1000 + i}},"capPeriod":"day"}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.Status));
        var listed = await GetJsonAsync(admin, "/api/v1/keys");
        var mine = listed.GetProperty("keys").EnumerateArray().Where(k => k.GetProperty("name").GetString()!.StartsWith($"conc-{run}-", StringComparison.Ordinal)).ToList();
        Assert.Equal(Writers, mine.Count);
        foreach (var answer in answers)
        {
            var key = answer.Body.GetProperty("key");
            var i = int.Parse(key.GetProperty("name").GetString()!.Split('-')[^1], System.Globalization.CultureInfo.InvariantCulture);
            var stored = Assert.Single(mine, k => k.GetProperty("id").GetGuid() == key.GetProperty("id").GetGuid());
            Assert.Equal(100 + i, stored.GetProperty("requestsPerMinute").GetInt32());
            Assert.Equal(1000 + i, Assert.Single(stored.GetProperty("caps").EnumerateArray()).GetProperty("limitMicros").GetInt64());
            Assert.Equal(HttpStatusCode.OK, (await fixture.Client(answer.Body.GetProperty("secret").GetString()!).GetAsync("/v1/models")).StatusCode);
        }
    }

    private async Task UpdateKeyAsync()
    {
        var admin = fixture.Client();
        var (id, _) = await NewKeyAsync(admin);
        var day = DateTime.UtcNow.Date.AddDays(10);

        var answers = await AllAtOnceAsync(i => admin.PatchAsync($"/api/v1/keys/{id}", Json($$"""{"expiresUtc":"{{day.AddDays(i):yyyy-MM-ddTHH:mm:ssZ}}"}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        await using var db = fixture.App.CreateSystemDb();
        var stored = (await db.ApiKeys.AsNoTracking().SingleAsync(k => k.Id == id)).ExpiresUtc;
        // Every PATCH took effect in turn; what stays is the value one of them set.
        Assert.Contains(stored!.Value, Enumerable.Range(0, Writers).Select(i => day.AddDays(i)));
    }

    private async Task RotateKeyAsync()
    {
        var admin = fixture.Client();
        var (id, original) = await NewKeyAsync(admin);

        var answers = await AllAtOnceAsync(_ => admin.PostAsync($"/api/v1/keys/{id}/rotate", Json("""{"overlapSeconds":0}""")));

        var won = answers.Where(a => a.Status == HttpStatusCode.OK).ToList();
        Assert.NotEmpty(won);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.OK), a => AssertError(a, HttpStatusCode.Conflict, "conflict"));
        // No two rotations replaced the same secret (the lost update): the answers form one chain from the original.
        var replaced = won.Select(a => a.Body.GetProperty("key").GetProperty("previousPrefix").GetString()).ToList();
        Assert.Equal(replaced.Count, replaced.Distinct().Count());
        var prefixes = won.Select(a => a.Body.GetProperty("key").GetProperty("prefix").GetString()).Append(ApiKeyHasher.PrefixOf(original)).ToHashSet();
        Assert.All(replaced, p => Assert.Contains(p, prefixes));
        // The last rotation in the chain holds the secret that authenticates; with no overlap every earlier one stopped.
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.ApiKeys.AsNoTracking().SingleAsync(k => k.Id == id);
        var last = Assert.Single(won, a => ApiKeyHasher.Hash(a.Body.GetProperty("secret").GetString()!) == stored.Hash);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Client(last.Body.GetProperty("secret").GetString()!).GetAsync("/v1/models")).StatusCode);
        foreach (var other in won.Where(a => a != last))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.Client(other.Body.GetProperty("secret").GetString()!).GetAsync("/v1/models")).StatusCode);
        }
    }

    private async Task RevokeKeyAsync()
    {
        var admin = fixture.Client();
        var (id, secret) = await NewKeyAsync(admin);

        var answers = await AllAtOnceAsync(_ => admin.DeleteAsync($"/api/v1/keys/{id}"));

        Assert.Single(answers, a => a.Status == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.NoContent), a => AssertError(a, HttpStatusCode.NotFound, "not_found"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.NotNull((await db.ApiKeys.AsNoTracking().SingleAsync(k => k.Id == id)).RevokedUtc);
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Action == "apikey.revoke" && a.Target == $"apikey:{id}"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.Client(secret).GetAsync("/v1/models")).StatusCode);
    }

    private async Task PutBudgetsAsync()
    {
        var admin = fixture.Client();
        var run = Guid.NewGuid().ToString("N")[..8];

        // Each body sets two caps that did not exist (the insert race) to values of its own, plus the policy.
        var answers = await AllAtOnceAsync(i => admin.PutAsync("/api/v1/budgets", Json($$"""
            {"caps":[{"scope":"feature","key":"conc-{{run}}-a","period":"day","limitMicros":{{10_000 + i}}},
                     {"scope":"user","key":"conc-{{run}}-u","period":"month","limitMicros":{{20_000 + i}}}],
             "softThresholdsPercent":[{{50 + i}}],"actionAtLimit":"block","userRequestsPerMinute":{{10_000 + i}}}
            """)));

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK || IsConflict(a), $"{(int)a.Status}: {a.Text}"));
        var ok = answers.Select((a, i) => (a, i)).Where(x => x.a.Status == HttpStatusCode.OK).Select(x => x.i).ToList();
        Assert.NotEmpty(ok);
        var stored = await GetJsonAsync(admin, "/api/v1/budgets");
        var caps = stored.GetProperty("caps").EnumerateArray().ToList();
        var feature = Assert.Single(caps, c => c.GetProperty("key").GetString() == $"conc-{run}-a").GetProperty("limitMicros").GetInt64();
        var user = Assert.Single(caps, c => c.GetProperty("key").GetString() == $"conc-{run}-u").GetProperty("limitMicros").GetInt64();
        var threshold = Assert.Single(stored.GetProperty("softThresholdsPercent").EnumerateArray()).GetInt32();
        // The stored caps and policy are those of one PUT that answered 200, whole (not a mix of two).
        var winner = (int)(feature - 10_000);
        Assert.Contains(winner, ok);
        Assert.Equal(20_000 + winner, user);
        Assert.Equal(50 + winner, threshold);
        Assert.Equal(10_000 + winner, stored.GetProperty("userRequestsPerMinute").GetInt32());
        // Back to the platform's limit for Acme's other callers in this fixture.
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/budgets", Json("""{"userRequestsPerMinute":null}"""))).StatusCode);
    }

    private async Task PutCacheSettingsAsync()
    {
        var admin = fixture.Client();
        var feature = "conc-" + Guid.NewGuid().ToString("N")[..8];

        var answers = await AllAtOnceAsync(i => admin.PutAsync($"/api/v1/cache-settings/{feature}",
            Json($$"""{"cacheEveryRequest":{{(i % 2 == 0 ? "true" : "false")}},"semanticThreshold":0.{{60 + i}}}""")));

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK || IsConflict(a), $"{(int)a.Status}: {a.Text}"));
        var ok = answers.Select((a, i) => (a, i)).Where(x => x.a.Status == HttpStatusCode.OK).Select(x => x.i).ToList();
        await using var db = fixture.App.CreateSystemDb();
        var row = await db.FeatureCacheSettings.AsNoTracking().SingleAsync(s => s.TenantId == DemoData.AcmeId && s.Feature == feature);
        var winner = (int)Math.Round((row.SemanticThreshold - 0.6) * 100);
        Assert.Contains(winner, ok);
        Assert.Equal(winner % 2 == 0, row.Cache);
    }

    /// <summary>Thirty rates for one feature at once: each answer is 200 or a conflict, one row is stored, and it is an
    /// answered writer's rate (never a mix, never a rate nobody was told was saved).</summary>
    private async Task PutSamplingRatesAsync()
    {
        var admin = fixture.Client();
        var feature = "conc-" + Guid.NewGuid().ToString("N")[..8];

        var answers = await AllAtOnceAsync(i => admin.PutAsync("/api/v1/evals/sampling",
            Json($$"""{"feature":"{{feature}}","ratePercent":{{i + 1}}}""")));

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK || IsConflict(a), $"{(int)a.Status}: {a.Text}"));
        var ok = answers.Select((a, i) => (a, i)).Where(x => x.a.Status == HttpStatusCode.OK).Select(x => x.i + 1).ToList();
        Assert.NotEmpty(ok);
        await using var db = fixture.App.CreateSystemDb();
        var row = await db.EvalSamplingRates.AsNoTracking().SingleAsync(r => r.TenantId == DemoData.AcmeId && r.Feature == feature);
        Assert.Contains(row.RatePpm / 10_000, ok);
    }

/// <summary>Thirty writers choosing a feature set's nightly alias at once (fast or smart): every answer is 200, the stored
    /// alias is one of theirs, and exactly the answers that say they changed it have an audit entry (no change unreported,
    /// none reported twice).</summary>
    private async Task PutNightlyAliasesAsync()
    {
        var admin = fixture.Client();
        var feature = "conc-" + Guid.NewGuid().ToString("N")[..8];
        using (var scope = fixture.App.Services.CreateScope())
        {
            await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Evals.EvalSetStore>().CreateFeatureSetAsync(feature, DemoData.AcmeId, null, CancellationToken.None);
        }

        var answers = await AllAtOnceAsync(i => admin.PutAsync("/api/v1/evals/nightly", Json($$"""{"feature":"{{feature}}","alias":"{{(i % 2 == 0 ? "fast" : "smart")}}"}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        await using var db = fixture.App.CreateSystemDb();
        var set = await db.EvalSets.AsNoTracking().SingleAsync(s => s.TenantId == DemoData.AcmeId && s.Feature == feature);
        Assert.True(set.NightlyAlias is "fast" or "smart", set.NightlyAlias);
        var target = $"eval_set:{set.Id}";
        Assert.Equal(answers.Count(a => a.Body.GetProperty("changed").GetBoolean()),
            await db.AuditLog.CountAsync(a => a.Action == "eval_set.nightly_alias" && a.Target == target));
    }

        private async Task DeleteCacheSettingsAsync()
    {
        var admin = fixture.Client();
        var feature = "conc-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/api/v1/cache-settings/{feature}", Json("""{"cacheEveryRequest":true}"""))).StatusCode);

        var answers = await AllAtOnceAsync(_ => admin.DeleteAsync($"/api/v1/cache-settings/{feature}"));

        Assert.Single(answers, a => a.Status == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.NoContent), a => AssertError(a, HttpStatusCode.NotFound, "not_found"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.FeatureCacheSettings.AnyAsync(s => s.TenantId == DemoData.AcmeId && s.Feature == feature));
    }

    private async Task DeleteBudgetCapAsync()
    {
        var admin = fixture.Client();
        var feature = "conc-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/budgets",
            Json($$"""{"caps":[{"scope":"feature","key":"{{feature}}","period":"day","limitMicros":5000}]}"""))).StatusCode);

        var answers = await AllAtOnceAsync(_ => admin.DeleteAsync($"/api/v1/budgets/caps?scope=feature&key={feature}&period=day"));

        Assert.Single(answers, a => a.Status == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.NoContent), a => AssertError(a, HttpStatusCode.NotFound, "not_found"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.Budgets.AnyAsync(b => b.TenantId == DemoData.AcmeId && b.Key == feature));
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Action == "budgets.cap.remove" && a.MetadataJson!.Contains(feature)));
    }

    private async Task PutProviderKeyAsync()
    {
        var admin = fixture.Client();
        var run = Guid.NewGuid().ToString("N")[..6];

        var answers = await AllAtOnceAsync(i => admin.PutAsync("/api/v1/provider-keys/sim", Json($$"""{"apiKey":"sk-conc-{{run}}-{{i:0000}}"}""")));

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK || IsConflict(a), $"{(int)a.Status}: {a.Text}"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.Equal(1, await db.ProviderCredentials.CountAsync(c => c.TenantId == DemoData.AcmeId && c.Provider == "sim"));
        var stored = await fixture.App.Services.GetRequiredService<ProviderCredentialStore>().GetForCallAsync(DemoData.AcmeId, "sim", CancellationToken.None);
        var winner = int.Parse(stored!.ApiKey[^4..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"sk-conc-{run}-{winner:0000}", stored.ApiKey);
        Assert.Equal(HttpStatusCode.OK, answers[winner].Status);
        Assert.Equal($"…{winner:0000}", answers[winner].Body.GetProperty("key").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/v1/provider-keys/sim")).StatusCode);
    }

    /// <summary>Thirty "test again" at once on one stored key: thirty 200s that agree with the stored check; the key is kept.</summary>
    private async Task TestProviderKeyAsync()
    {
        var admin = fixture.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/provider-keys/sim", Json("""{"apiKey":"sk-conc-test-4567"}"""))).StatusCode);
        DateTime savedCheck;
        await using (var db = fixture.App.CreateSystemDb())
        {
            savedCheck = (await db.ProviderCredentials.SingleAsync(c => c.TenantId == DemoData.AcmeId && c.Provider == "sim")).CheckedUtc!.Value;
        }

        var answers = await AllAtOnceAsync(_ => admin.PostAsync("/api/v1/provider-keys/sim/test", null));

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK, $"{(int)a.Status}: {a.Text}"));
        Assert.All(answers, a => Assert.Equal("accepted", a.Body.GetProperty("check").GetString()));
        Assert.All(answers, a => Assert.Equal("…4567", a.Body.GetProperty("key").GetString()));
        await using (var db = fixture.App.CreateSystemDb())
        {
            var row = await db.ProviderCredentials.SingleAsync(c => c.TenantId == DemoData.AcmeId && c.Provider == "sim");
            Assert.Equal("accepted", row.CheckResult);
            Assert.True(row.CheckedUtc >= savedCheck);
            Assert.Equal(Writers, await db.AuditLog.CountAsync(a => a.Action == "byok.check" && a.TenantId == DemoData.AcmeId && a.Target == "provider:sim"
                && a.MetadataJson!.Contains("4567")));
        }

        var stored = await fixture.App.Services.GetRequiredService<ProviderCredentialStore>().GetForCallAsync(DemoData.AcmeId, "sim", CancellationToken.None);
        Assert.Equal("sk-conc-test-4567", stored?.ApiKey);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/v1/provider-keys/sim")).StatusCode);
    }

    private async Task DeleteProviderKeyAsync()
    {
        var admin = fixture.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/api/v1/provider-keys/sim", Json("""{"apiKey":"sk-conc-delete-0123"}"""))).StatusCode);

        var answers = await AllAtOnceAsync(_ => admin.DeleteAsync("/api/v1/provider-keys/sim"));

        Assert.Single(answers, a => a.Status == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.NoContent), a => AssertError(a, HttpStatusCode.NotFound, "not_found"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.ProviderCredentials.AnyAsync(c => c.TenantId == DemoData.AcmeId && c.Provider == "sim"));
    }

    /// <summary>Thirty runs of one set started at once: thirty 202s, thirty distinct queued runs, each answer's id stored.</summary>
    private async Task StartEvalRunsAsync()
    {
        Guid setId;
        await using (var scope = fixture.App.Services.CreateAsyncScope())
        {
            var sets = scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Evals.EvalSetStore>();
            setId = (await sets.CreateSetAsync("support-reply", DemoData.AcmeId, null, CancellationToken.None)).Id;
            await sets.AddExampleAsync(setId, new Keystone.Web.Features.Evals.EvalExampleInput(null,
                [new Keystone.Web.Features.Evals.EvalMessage("user", "Concurrent eval")], "Hello", null, null), "conc", CancellationToken.None);
        }

        var admin = fixture.Client();

        var answers = await AllAtOnceAsync(_ => admin.PostAsync("/api/v1/evals/runs", Json($$"""{"setId":"{{setId}}","alias":"fast"}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Accepted, a.Status));
        var ids = answers.Select(a => a.Body.GetProperty("id").GetGuid()).ToList();
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.EvalRuns.AsNoTracking().Where(r => ids.Contains(r.Id)).Select(r => new { r.Id, r.SetId }).ToListAsync();
        Assert.Equal(ids.Order(), stored.Select(r => r.Id).Order());
        Assert.All(stored, r => Assert.Equal(setId, r.SetId));
        Assert.Equal(Writers, ids.Distinct().Count());
    }

    private async Task PostFeedbackAsync()
    {
        var admin = fixture.Client();
        var chat = await admin.PostAsync("/v1/chat/completions", Json("""{"model":"fast","messages":[{"role":"user","content":"Feedback target"}]}"""));
        chat.EnsureSuccessStatusCode();
        var traceId = chat.Headers.GetValues("X-Keystone-Trace-Id").Single();

        var answers = await AllAtOnceAsync(i => admin.PostAsync("/api/v1/feedback", Json($$"""{"traceId":"{{traceId}}","score":"{{(i % 2 == 0 ? "up" : "down")}}","comment":"writer {{i}}"}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.Status));
        await using var db = fixture.App.CreateSystemDb();
        var trace = Guid.Parse(answers[0].Body.GetProperty("traceId").GetString()!);
        var rows = await db.Feedback.AsNoTracking().Where(f => f.TraceId == trace).ToListAsync();
        Assert.Equal(Writers, rows.Count);
        Assert.Equal(answers.Select(a => a.Body.GetProperty("id").GetGuid()).Order(), rows.Select(r => r.Id).Order());
    }

    private async Task DecideApprovalAsync(string verdict)
    {
        var id = await fixture.App.Services.GetRequiredService<Keystone.Web.Features.Approvals.IApprovalService>().RequestAsync(new(
            DemoData.AcmeId, "concurrency_test", Guid.NewGuid(), "step-1", "send_email", """{"to":"customer@example.com"}""", null, "member-1",
            Roles.TenantAdmin, true, null, DateTimeOffset.UtcNow.AddHours(1), "Send an email"), CancellationToken.None);
        var admin = fixture.Client();

        var answers = await AllAtOnceAsync(i => admin.PostAsync($"/api/v1/approvals/{id}/{verdict}", Json($$"""{"comment":"writer {{i}}"}""")));

        var won = Assert.Single(answers, a => a.Status == HttpStatusCode.OK);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.OK), a => AssertError(a, HttpStatusCode.Conflict, "already_decided"));
        var stored = await GetJsonAsync(admin, $"/api/v1/approvals/{id}");
        Assert.Equal(verdict == "approve" ? "approved" : "rejected", stored.GetProperty("status").GetString());
        Assert.Equal(won.Body.GetProperty("comment").GetString(), stored.GetProperty("comment").GetString());
    }

    private async Task<Keystone.Web.Features.Agents.AgentView> NewAgentAsync()
    {
        using var scope = fixture.App.Services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Agents.AgentCatalog>().SaveAsync(DemoData.AcmeId, null,
            new Keystone.Web.Features.Agents.AgentInput($"conc-{Guid.NewGuid():N}"[..20], "fast", null, null, ["get_usage_summary"], 100_000, 1_000_000, 4),
            "test", CancellationToken.None);
    }

    private async Task StartRunsAsync()
    {
        var agent = await NewAgentAsync();

        var answers = await AllAtOnceAsync(i => fixture.Client().PostAsync($"/api/v1/agents/{agent.Id}/runs", Json($$"""{"input":"writer {{i}} [sim:tool=get_usage_summary]"}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Accepted, a.Status));
        var ids = answers.Select(a => a.Body.GetProperty("id").GetGuid()).ToList();
        Assert.Equal(Writers, ids.Distinct().Count());
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.AgentRuns.AsNoTracking().Where(r => r.AgentId == agent.Id).Select(r => r.Id).ToListAsync();
        Assert.Equal(ids.Order(), stored.Order());
    }

    private async Task CancelRunAsync()
    {
        var agent = await NewAgentAsync();
        Keystone.Data.Agents.AgentRun run;
        using (var scope = fixture.App.Services.CreateScope())
        {
            run = await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Agents.AgentRunService>().CreateAsync(DemoData.AcmeId, agent.Id, "Usage?",
                new Keystone.Web.Features.Agents.RunActor("test", null, "test", []), CancellationToken.None);
        }

        var answers = await AllAtOnceAsync(_ => fixture.Client().PostAsync($"/api/v1/runs/{run.Id}/cancel", Json("{}")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Accepted, a.Status));
        Assert.All(answers, a => Assert.Equal("cancelled", a.Body.GetProperty("state").GetString()));
        await using var db = fixture.App.CreateSystemDb();
        Assert.Equal(Keystone.Data.Agents.AgentRunState.Cancelled, (await db.AgentRuns.AsNoTracking().SingleAsync(r => r.Id == run.Id)).State);
        Assert.Equal(1, await db.AgentRunEvents.CountAsync(e => e.RunId == run.Id && e.Type == "done"));
    }

    /// <summary>Thirty replays of one finished run at once: thirty new runs, each a replay of it, and the original untouched.</summary>
    private async Task ReplayRunAsync()
    {
        var agent = await NewAgentAsync();
        Keystone.Data.Agents.AgentRun run;
        using (var scope = fixture.App.Services.CreateScope())
        {
            var runs = scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Agents.AgentRunService>();
            run = await runs.CreateAsync(DemoData.AcmeId, agent.Id, "Usage?", new Keystone.Web.Features.Agents.RunActor("test", null, "test", []), CancellationToken.None);
            await runs.CancelAsync(DemoData.AcmeId, run.Id, CancellationToken.None);
        }

        await using var before = fixture.App.CreateSystemDb();
        var original = await before.AgentRuns.AsNoTracking().SingleAsync(r => r.Id == run.Id);

        var answers = await AllAtOnceAsync(_ => fixture.Client().PostAsync($"/api/v1/runs/{run.Id}/replay", Json("""{"fromStep":0}""")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Accepted, a.Status));
        var ids = answers.Select(a => a.Body.GetProperty("id").GetGuid()).ToList();
        Assert.Equal(Writers, ids.Distinct().Count());
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.AgentRuns.AsNoTracking().Where(r => r.ReplayOfRunId == run.Id).Select(r => r.Id).ToListAsync();
        Assert.Equal(ids.Order(), stored.Order());
        var after = await db.AgentRuns.AsNoTracking().SingleAsync(r => r.Id == run.Id);
        Assert.Equal((original.State, original.UpdatedUtc), (after.State, after.UpdatedUtc));
    }

    /// <summary>Thirty registrations of one name: one server (201), the rest 409.</summary>
    private async Task RegisterMcpServersAsync()
    {
        await using var mcp = await Keystone.Testing.Upstreams.LoopbackMcpServer.StartAsync();
        var name = "c" + Guid.NewGuid().ToString("N")[..10];

        var answers = await AllAtOnceAsync(_ => fixture.Client().PostAsync("/api/v1/mcp-servers", Json($$"""{"name":"{{name}}","url":"{{mcp.Endpoint.AbsoluteUri}}"}""")));

        Assert.Single(answers, a => a.Status == HttpStatusCode.Created);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.Created), a => Assert.True(IsConflict(a), a.Text));
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.McpServers.AsNoTracking().SingleAsync(s => s.Name == name);
        Assert.Equal(answers.Single(a => a.Status == HttpStatusCode.Created).Body.GetProperty("id").GetGuid(), stored.Id);
        await db.McpServers.Where(s => s.Id == stored.Id).ExecuteDeleteAsync(); // stay under the per-tenant limit
    }

    /// <summary>Thirty refreshes at once: all answer 200, and the stored listing is whole.</summary>
    private async Task RefreshMcpServerAsync()
    {
        await using var mcp = await Keystone.Testing.Upstreams.LoopbackMcpServer.StartAsync();
        var id = await RegisterMcpAsync(mcp);

        var answers = await AllAtOnceAsync(_ => fixture.Client().PostAsync($"/api/v1/mcp-servers/{id}/refresh", Json("{}")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.All(answers, a => Assert.Equal(3, a.Body.GetProperty("tools").GetArrayLength()));
        await using var db = fixture.App.CreateSystemDb();
        var stored = await db.McpServers.AsNoTracking().SingleAsync(s => s.Id == id);
        Assert.Equal("ok", stored.State);
        Assert.Equal(3, JsonDocument.Parse(stored.ToolsJson).RootElement.GetArrayLength());
        await db.McpServers.Where(s => s.Id == id).ExecuteDeleteAsync();
    }

    /// <summary>Thirty removals at once: exactly one 204, the rest 404.</summary>
    private async Task RemoveMcpServerAsync()
    {
        await using var mcp = await Keystone.Testing.Upstreams.LoopbackMcpServer.StartAsync();
        var id = await RegisterMcpAsync(mcp);

        var answers = await AllAtOnceAsync(_ => fixture.Client().DeleteAsync($"/api/v1/mcp-servers/{id}"));

        Assert.Single(answers, a => a.Status == HttpStatusCode.NoContent);
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.NoContent), a => AssertError(a, HttpStatusCode.NotFound, "not_found"));
        await using var db = fixture.App.CreateSystemDb();
        Assert.False(await db.McpServers.AnyAsync(s => s.Id == id));
    }

    private async Task<Guid> RegisterMcpAsync(Keystone.Testing.Upstreams.LoopbackMcpServer mcp)
    {
        var answer = await fixture.Client().PostAsync("/api/v1/mcp-servers", Json($$"""{"name":"c{{Guid.NewGuid().ToString("N")[..10]}}","url":"{{mcp.Endpoint.AbsoluteUri}}"}"""));
        Assert.Equal(HttpStatusCode.Created, answer.StatusCode);
        return JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();
    }

    /// <summary>Thirty undos of one L2 step: all 200, exactly one did it, one audit entry, the ticket undone once.</summary>
    private async Task UndoStepAsync()
    {
        Keystone.Data.Agents.AgentRun run;
        using (var scope = fixture.App.Services.CreateScope())
        {
            var agent = await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Agents.AgentCatalog>().SaveAsync(DemoData.AcmeId, null,
                new Keystone.Web.Features.Agents.AgentInput($"conc-{Guid.NewGuid():N}"[..20], "fast", null, null, ["create_support_ticket"], 100_000, 1_000_000, 4),
                "test", CancellationToken.None);
            run = await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Agents.AgentRunService>().CreateAsync(DemoData.AcmeId, agent.Id,
                "Open a ticket. [sim:tool=create_support_ticket]",
                new Keystone.Web.Features.Agents.RunActor("test", null, "test", Keystone.Web.Features.Agents.AgentPermissions.All), CancellationToken.None);
            await scope.ServiceProvider.GetRequiredService<Keystone.Web.Features.Agents.AgentRunner>().RunAsync(run.Id, CancellationToken.None);
        }

        int sequence;
        await using (var db0 = fixture.App.CreateSystemDb())
        {
            sequence = await db0.AgentRunSteps.Where(s => s.RunId == run.Id && s.Tool == "create_support_ticket").Select(s => s.Sequence).SingleAsync();
        }

        var answers = await AllAtOnceAsync(_ => fixture.Client().PostAsync($"/api/v1/runs/{run.Id}/steps/{sequence}/undo", Json("{}")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.Single(answers, a => !a.Body.GetProperty("alreadyUndone").GetBoolean());
        await using var db = fixture.App.CreateSystemDb();
        Assert.NotNull((await db.SupportTickets.AsNoTracking().SingleAsync(t => t.RunId == run.Id)).UndoneUtc);
        Assert.Equal(1, await db.AuditLog.CountAsync(e => e.Action == "agent.tool.undo" && e.Target == $"agent_run:{run.Id}"));
    }

    [Fact]
    public async Task AddMember_SamePersonThirtyTimesAtOnce_OneMemberAndOneSuccess()
    {
        var email = $"conc-{Guid.NewGuid():N}@initech.demo";

        var results = await Task.WhenAll(Enumerable.Range(0, Writers).Select(async _ =>
        {
            var (scope, members) = await MembersAsAsync("admin@initech.demo", DemoData.InitechId);
            await using (scope)
            {
                return await members.AddAsync(email, "Conc Person", Roles.TenantMember, CancellationToken.None);
            }
        }));

        Assert.Single(results, r => r.Succeeded);
        Assert.All(results.Where(r => !r.Succeeded), r => Assert.False(string.IsNullOrWhiteSpace(r.Error)));
        await using var db = fixture.App.CreateSystemDb();
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == email);
        Assert.Equal(1, await db.Memberships.CountAsync(m => m.UserId == user.Id && m.TenantId == DemoData.InitechId));
    }

    [Fact]
    public async Task ChangeRole_TwoAdminsDemoteEachOtherAtOnce_TheTenantKeepsAnAdmin()
    {
        var email = $"conc-{Guid.NewGuid():N}@initech.demo";
        var (setup, setupMembers) = await MembersAsAsync("admin@initech.demo", DemoData.InitechId);
        await using (setup)
        {
            Assert.True((await setupMembers.AddAsync(email, "Second Admin", Roles.TenantAdmin, CancellationToken.None)).Succeeded);
        }

        await using var db = fixture.App.CreateSystemDb();
        var admins = await db.Memberships.AsNoTracking().Where(m => m.TenantId == DemoData.InitechId && m.Role == Roles.TenantAdmin)
            .Join(db.Users, m => m.UserId, u => u.Id, (m, u) => new { u.Id, u.Email }).ToListAsync();
        Assert.Equal(2, admins.Count);

        // Each admin demotes the other: each check alone sees two admins.
        var results = await Task.WhenAll(admins.Select(async (admin, i) =>
        {
            var (scope, members) = await MembersAsAsync(admin.Email!, DemoData.InitechId);
            await using (scope)
            {
                return await members.ChangeRoleAsync(admins[1 - i].Id, Roles.TenantMember, CancellationToken.None);
            }
        }));

        var left = await db.Memberships.AsNoTracking().CountAsync(m => m.TenantId == DemoData.InitechId && m.Role == Roles.TenantAdmin);
        Assert.Equal(1, left);
        Assert.Single(results, r => r is null);
        Assert.Single(results, r => r is not null);
        // Back to one admin of Initech's own for the other tests of this class.
        var demo = admins.Single(a => a.Email == "admin@initech.demo").Id;
        var added = admins.Single(a => a.Email == email).Id;
        await db.Memberships.Where(m => m.TenantId == DemoData.InitechId && m.UserId == demo).ExecuteUpdateAsync(u => u.SetProperty(m => m.Role, Roles.TenantAdmin));
        await db.Memberships.Where(m => m.TenantId == DemoData.InitechId && m.UserId == added).ExecuteDeleteAsync();
    }

    [Fact]
    public async Task SaveSearch_SameNameThirtyTimesAtOnce_OneRowHoldingOneOfTheQueries()
    {
        var name = $"conc-{Guid.NewGuid():N}"[..20];
        var (probe, _) = await MembersAsAsync("admin@initech.demo", DemoData.InitechId);
        var userId = probe.ServiceProvider.GetRequiredService<TenantContext>().UserId;
        await probe.DisposeAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, Writers).Select(async i =>
        {
            var (scope, _) = await MembersAsAsync("admin@initech.demo", DemoData.InitechId);
            await using (scope)
            {
                var searches = scope.ServiceProvider.GetRequiredService<SavedTraceSearches>();
                return (Error: await searches.SaveAsync(name, new TraceFilter { Text = $"writer-{i}" }, CancellationToken.None), Writer: i);
            }
        }));

        // A save either took effect or said in plain words that it did not (never an exception out of the circuit).
        Assert.All(results, r => Assert.True(r.Error is null || r.Error.Contains("same moment", StringComparison.Ordinal), r.Error));
        await using var db = fixture.App.CreateSystemDb();
        var row = await db.SavedTraceSearches.AsNoTracking().SingleAsync(x => x.UserId == userId && x.Name == name);
        Assert.Contains(results.Where(r => r.Error is null), r => row.Query.Contains($"writer-{r.Writer}", StringComparison.Ordinal));
    }

    private async Task<(AsyncServiceScope Scope, MemberService Members)> MembersAsAsync(string email, Guid tenantId)
    {
        var scope = fixture.App.Services.CreateAsyncScope();
        var user = (await scope.ServiceProvider.GetRequiredService<UserManager<KeystoneUser>>().FindByEmailAsync(email))!;
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim(ClaimTypes.Email, email), new Claim(ClaimTypes.Role, Roles.TenantAdmin),
            new Claim(KeystoneClaims.TenantId, tenantId.ToString()),
        ], "test")));
        return (scope, scope.ServiceProvider.GetRequiredService<MemberService>());
    }

    private sealed record Answer(HttpStatusCode Status, string Text, JsonElement Body);

    /// <summary>Starts <see cref="Writers"/> requests together and collects every answer; a 5xx fails the test at once.</summary>
    private async Task<List<Answer>> AllAtOnceAsync(Func<int, Task<HttpResponseMessage>> send)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = Enumerable.Range(0, Writers).Select(async i =>
        {
            await start.Task;
            using var response = await send(i);
            var text = await response.Content.ReadAsStringAsync();
            var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
            return new Answer(response.StatusCode, text, body);
        }).ToList();
        start.SetResult();
        var answers = (await Task.WhenAll(writers)).ToList();
        // The figures docs/reliability.md quotes: how the writers were answered.
        output.WriteLine(string.Join(", ", answers.GroupBy(a => (int)a.Status).OrderBy(g => g.Key).Select(g => $"{g.Count()} × {g.Key}")));
        Assert.All(answers, a => Assert.True((int)a.Status < 500, $"A writer got {(int)a.Status}: {a.Text}\nServer errors:\n{fixture.App.ErrorLog}"));
        return answers;
    }

    private static bool IsConflict(Answer a)
        => a.Status == HttpStatusCode.Conflict && a.Body.GetProperty("error").GetProperty("code").GetString() == "conflict";

    private static void AssertError(Answer a, HttpStatusCode status, string code)
    {
        Assert.Equal(status, a.Status);
        Assert.Equal(code, a.Body.GetProperty("error").GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(a.Body.GetProperty("error").GetProperty("message").GetString()));
    }

    private static async Task<(Guid Id, string Secret)> NewKeyAsync(HttpClient admin)
    {
        var created = await admin.PostAsync("/api/v1/keys", Json($$"""{"name":"conc-{{Guid.NewGuid():N}}","scopes":["chat"]}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var doc = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        return (doc.RootElement.GetProperty("key").GetProperty("id").GetGuid(), doc.RootElement.GetProperty("secret").GetString()!);
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, string path)
    {
        using var doc = JsonDocument.Parse(await client.GetStringAsync(path));
        return doc.RootElement.Clone();
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}

public sealed class ConcurrentAdminWritesSqliteTests(SqliteWritesFixture fixture, ITestOutputHelper output)
    : ConcurrentAdminWritesTests(fixture, output), IClassFixture<SqliteWritesFixture>;

public sealed class ConcurrentAdminWritesPostgresTests(PostgresWritesFixture fixture, ITestOutputHelper output)
    : ConcurrentAdminWritesTests(fixture, output), IClassFixture<PostgresWritesFixture>;
