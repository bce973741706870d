namespace Keystone.Web.Features.Approvals;

/// <summary>
/// Every minute: rejects pending actions past their expiry (outcome Expired, audited, handed to the requester), then
/// hands over again the decisions whose hand-over failed and whose pause is over. Re-entrant and safe on several
/// instances at once: every change is a conditional update that only one run can make.
/// </summary>
internal sealed class ApprovalExpiryJob(ApprovalService approvals, ILogger<ApprovalExpiryJob> log)
{
    public const string RecurringId = "approvals:expiry";

    /// <summary>Every minute: an expired action holds its requester (an agent run) until this runs.</summary>
    public const string Cron = "* * * * *";

    public async Task RunAsync(CancellationToken ct)
    {
        var expired = await approvals.ExpireDueAsync(ct);
        var retried = await approvals.RetryHandoversAsync(ct);
        if (expired + retried > 0)
        {
            log.LogInformation("Approvals: {Expired} pending actions expired, {Retried} decisions handed over again", expired, retried);
        }
    }
}
