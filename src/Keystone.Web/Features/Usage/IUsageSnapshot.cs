using Keystone.Data;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// How <see cref="UsageReader"/> reads the rollup watermark, the rollup rows and the calls after the watermark as of one
/// moment, so that a rollup run committing in between can neither count a call twice nor drop one. One implementation
/// per mode (<see cref="SqliteUsageSnapshot"/>, <see cref="PostgresUsageSnapshot"/>), picked at registration.
/// </summary>
internal interface IUsageSnapshot
{
    /// <summary>Starts the read transaction on the context; disposing the result ends it.</summary>
    Task<IAsyncDisposable> BeginAsync(KeystoneDbContext db, CancellationToken ct);

    /// <summary>
    /// The bound <c>b</c> for which <c>IngestedUtc &gt; b</c> in a LINQ query holds exactly for the calls ingested after
    /// <paramref name="watermarkUtc"/> (the rollup holds the others).
    /// </summary>
    DateTime IngestedAfter(DateTime watermarkUtc);
}
