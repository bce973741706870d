namespace Keystone.Web.Features.Approvals;

/// <summary>Settings of the approvals inbox (<c>Approvals</c> section).</summary>
internal sealed class ApprovalsOptions
{
    public const string SectionName = "Approvals";

    /// <summary>
    /// PostgreSQL mode: tell open inboxes on the other instances at once (NOTIFY / LISTEN) instead of on their 30-second
    /// refresh. Costs one more connection per instance, held for its life, which <c>Database</c>'s connection arithmetic
    /// (decision 29) does not count yet: leave room for it before turning this on. Default: <c>false</c>.
    /// </summary>
    public bool ListenAcrossInstances { get; set; }
}
