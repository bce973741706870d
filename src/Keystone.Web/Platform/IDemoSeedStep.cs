namespace Keystone.Web.Platform;

/// <summary>
/// One step of the demo seed. Features add their own (budgets, history, prompts); steps run in
/// <see cref="Order"/> at start-up when <c>Seed:Demo</c> is on, and each must be idempotent.
/// </summary>
internal interface IDemoSeedStep
{
    /// <summary>Lower runs first; the tenants and users step is 0.</summary>
    int Order { get; }

    Task RunAsync(CancellationToken ct);
}
