using System.Text.Json;
using Bunit;
using Keystone.Data.Caching;
using Keystone.Gateway.Caching;
using Keystone.Web.Features.Playground;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Playground;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Knowledge;

/// <summary>
/// Through the console (the playground page, as Acme's member), the semantic cache never serves another tenant's
/// answer, even one stored under the very same context key and vector: the shared vector search reads one tenant's
/// entries only. (Retrieval through the console: <see cref="PlaygroundKnowledgeTests"/> and the browser journey.)
/// </summary>
public sealed class ConsoleSemanticCacheIsolationTests : PlaygroundPageTestBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private const string Question = "What are the opening hours of the Lisbon office on Sundays?";

    [Fact]
    public async Task Playground_SameQuestionAsAnotherTenantsCachedOne_IsNeverAnsweredWithTheirAnswer()
    {
        await using (var db = Factory.ForSystem())
        {
            foreach (var tenant in new[] { DemoData.AcmeId, DemoData.GlobexId })
            {
                db.Add(new FeatureCacheSetting
                {
                    TenantId = tenant, Feature = PlaygroundPage.Feature, Cache = false, CacheAtTemperatureZero = false, SemanticCache = true,
                    SemanticThreshold = 0.9, UpdatedUtc = DateTime.UtcNow,
                });
            }

            await db.SaveChangesAsync();
        }

        // Acme asks: a miss, answered by the model and stored in Acme's semantic cache.
        var first = await AskAsync();
        Assert.Empty(first.FindAll("[data-test=cache-marker]"));
        var stored = await WaitForEntryAsync(DemoData.AcmeId);

        // Globex holds the same question under Acme's own context key and vector, with its own answer; Acme's entry goes.
        var globexAnswer = JsonSerializer.Deserialize<CachedAnswer>(stored.ResponseJson, ExactCache.JsonOptions)! with { Text = "GLOBEX ONLY: closed on Sundays." };
        await using (var db = Factory.ForSystem())
        {
            db.SemanticCache.Add(Copy(stored, DemoData.GlobexId, globexAnswer));
            await db.SaveChangesAsync();
            await db.SemanticCache.Where(e => e.Id == stored.Id).ExecuteDeleteAsync();
        }

        var second = await AskAsync();
        Assert.Empty(second.FindAll("[data-test=cache-marker]"));
        Assert.DoesNotContain("GLOBEX ONLY", second.Find("[data-test=answer]").TextContent, StringComparison.Ordinal);

        // Control: the same entry in Acme's own cache is served, so the miss above was the tenant boundary, not a cold cache.
        var acmeAnswer = globexAnswer with { Text = "ACME CACHED: open from ten to four." };
        await using (var db = Factory.ForSystem())
        {
            await db.SemanticCache.Where(e => e.TenantId == DemoData.AcmeId).ExecuteDeleteAsync();
            db.SemanticCache.Add(Copy(stored, DemoData.AcmeId, acmeAnswer));
            await db.SaveChangesAsync();
        }

        var third = await AskAsync();
        third.WaitForAssertion(() => Assert.Contains("semantic cache hit", third.Find("[data-test=cache-marker]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Contains("ACME CACHED", third.Find("[data-test=answer]").TextContent, StringComparison.Ordinal);
    }

    /// <summary>A fresh playground (a new conversation, so the context is the question alone), one question, its answer complete.</summary>
    private async Task<IRenderedComponent<PlaygroundPage>> AskAsync()
    {
        await DisposeComponentsAsync();
        var page = Render<PlaygroundPage>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=send]")), Wait);
        Type(page, Question);
        await page.Find("[data-test=send]").ClickAsync(new MouseEventArgs());
        page.WaitForAssertion(() => Assert.Equal("complete", page.Find("[data-test=answer]").GetAttribute("data-state")), Wait);
        return page;
    }

    private async Task<SemanticCacheEntry> WaitForEntryAsync(Guid tenant)
    {
        for (var i = 0; i < 300; i++)
        {
            await using var db = Factory.ForSystem();
            if (await db.SemanticCache.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenant) is { } entry)
            {
                return entry;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The playground's answer was not stored in the semantic cache.");
    }

    private static SemanticCacheEntry Copy(SemanticCacheEntry e, Guid tenant, CachedAnswer answer) => new()
    {
        TenantId = tenant, ContextKey = e.ContextKey, Question = e.Question, Embedding = e.Embedding, EmbeddingModel = e.EmbeddingModel,
        Alias = e.Alias, Provider = e.Provider, Model = e.Model, ResponseJson = JsonSerializer.Serialize(answer, ExactCache.JsonOptions),
        CostMicros = e.CostMicros, CreatedUtc = e.CreatedUtc, ExpiresUtc = e.ExpiresUtc,
    };
}
