using Hangfire;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// Asks for an embedding run now (after an upload), so progress starts without waiting for the next minute. The outbox,
/// not this, is the source of truth: a lost enqueue only delays the work to the recurring run, so a Hangfire storage
/// that cannot be reached (or resolved) never fails the upload that was already stored.
/// </summary>
internal sealed class KnowledgeJobQueue(IServiceProvider services, ILogger<KnowledgeJobQueue> log)
{
    public void EmbedSoon()
    {
        try
        {
            // Resolved here, inside the guard: Hangfire's client binds to its storage when first resolved.
            services.GetRequiredService<IBackgroundJobClient>().Enqueue<KnowledgeEmbeddingJob>(j => j.RunAsync(CancellationToken.None));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            log.LogWarning(ex, "Could not enqueue a knowledge embedding run; the recurring run will take the work");
        }
    }
}
