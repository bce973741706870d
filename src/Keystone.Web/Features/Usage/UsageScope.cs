namespace Keystone.Web.Features.Usage;

/// <summary>Whose calls <see cref="UsageReader"/> sums: one tenant's, created in [<see cref="FromUtc"/>, <see cref="ToUtc"/>).</summary>
/// <param name="UserId">
/// When set, only the calls this console user made (a tenant member's own usage); empty matches no call, since calls
/// without a console user (API calls) are nobody's own.
/// </param>
internal sealed record UsageScope(Guid TenantId, DateTime FromUtc, DateTime ToUtc, string? UserId = null);
