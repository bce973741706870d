using System.Text.Json;
using Keystone.Data.Approvals;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Keystone.Web.Features.Approvals;

/// <summary>One action as <c>/api/v1/approvals</c> shows it. <see cref="Input"/> is the proposed input, <see cref="EditedInput"/>
/// the approver's edit (null when none); both as JSON values.</summary>
internal sealed record ApprovalDto(
    Guid Id,
    string Tool,
    string Summary,
    string? Rationale,
    JsonElement Input,
    JsonElement? EditedInput,
    bool InputEditable,
    long? AmountMicros,
    string OnBehalfOfUserId,
    string? OnBehalfOfName,
    string ApproverRole,
    string SourceKind,
    Guid SourceId,
    string SourceStepKey,
    string Status,
    string? DecidedBy,
    string? Comment,
    DateTime CreatedUtc,
    DateTime ExpiresUtc,
    DateTime? DecidedUtc,
    bool HandedOver,
    string? HandOverError);

/// <summary><c>GET /api/v1/approvals</c>.</summary>
internal sealed record ApprovalListDto(IReadOnlyList<ApprovalDto> Approvals);

/// <summary>The optional body of <c>POST /api/v1/approvals/{id}/approve</c> (documentation only).</summary>
/// <param name="Input">The edited input, any JSON value (only where the action's input is editable).</param>
internal sealed record ApproveDoc(JsonElement? Input, string? Comment);

/// <summary>The optional body of <c>POST /api/v1/approvals/{id}/reject</c> (documentation only).</summary>
internal sealed record RejectDoc(string? Comment);

/// <summary>
/// <c>/api/v1/approvals</c>: the inbox for tenants who approve in their own product. An <c>admin</c> key decides as the
/// tenant's admin, through the same <see cref="ApprovalService"/> as the console (the same race rule, audit with the
/// key as the actor, and hand-over to the requester); refusals become 400, 404 or 409 with a code.
/// </summary>
internal static class ApprovalEndpoints
{
    private static readonly HashSet<string> DecidedStatuses =
        [PendingActionStatus.Approved, PendingActionStatus.Rejected, PendingActionStatus.Expired, PendingActionStatus.Cancelled];

    public static async Task<IResult> ListAsync(HttpContext http, ApprovalInbox inbox, ApprovalService approvals)
    {
        var tenantId = inbox.TenantId!.Value;
        var status = http.Request.Query["status"].ToString();
        IReadOnlyList<PendingActionView> rows = status switch
        {
            "" or PendingActionStatus.Pending => await approvals.PendingAsync(tenantId, http.RequestAborted),
            "decided" => await approvals.HistoryAsync(tenantId, null, http.RequestAborted),
            _ when DecidedStatuses.Contains(status) => [.. (await approvals.HistoryAsync(tenantId, null, http.RequestAborted)).Where(r => r.Status == status)],
            _ => throw ApiException.Invalid("status", "status must be pending (the default), approved, rejected, expired, cancelled or decided."),
        };
        return TypedResults.Ok(new ApprovalListDto([.. rows.Select(ToDto)]));
    }

    public static async Task<IResult> GetAsync(HttpContext http, Guid id, ApprovalInbox inbox, ApprovalService approvals)
        => await approvals.GetAsync(inbox.TenantId!.Value, id, http.RequestAborted) is { } row
            ? TypedResults.Ok(ToDto(row))
            : throw ApiException.NotFound("No pending action with that id in this tenant.");

    public static async Task<IResult> ApproveAsync(HttpContext http, Guid id, ApiRequestBody body, ApprovalInbox inbox)
    {
        var (input, comment) = HasBody(http) ? await body.ReadAsync(http.Request, ParseApprove, http.RequestAborted) : (null, null);
        return TypedResults.Ok(ToDto(await Run(() => inbox.DecideAsync(id, ApprovalVerdict.Approve, input, comment, http.RequestAborted))));
    }

    public static async Task<IResult> RejectAsync(HttpContext http, Guid id, ApiRequestBody body, ApprovalInbox inbox)
    {
        var comment = HasBody(http) ? await body.ReadAsync(http.Request, ParseReject, http.RequestAborted) : null;
        return TypedResults.Ok(ToDto(await Run(() => inbox.DecideAsync(id, ApprovalVerdict.Reject, null, comment, http.RequestAborted))));
    }

    // `curl -X POST` sends no body: approve as proposed, without a comment.
    private static bool HasBody(HttpContext http) => http.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != false;

    internal static (string? Input, string? Comment) ParseApprove(JsonElement root)
    {
        RequireObject(root);
        string? input = null;
        if (root.TryGetProperty("input", out var value) && value.ValueKind != JsonValueKind.Null)
        {
            input = value.GetRawText();
            if (input.Length > PendingAction.InputMaxLength)
            {
                throw ApiException.Invalid("input", $"input is larger than {PendingAction.InputMaxLength:N0} characters.");
            }
        }

        return (input, JsonFields.OptionalString(root, "comment", PendingAction.CommentMaxLength));
    }

    internal static string? ParseReject(JsonElement root)
    {
        RequireObject(root);
        if (root.TryGetProperty("input", out _))
        {
            throw ApiException.Invalid("input", "A rejection runs nothing: send only a comment.");
        }

        return JsonFields.OptionalString(root, "comment", PendingAction.CommentMaxLength);
    }

    private static void RequireObject(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }
    }

    private static async Task<T> Run<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (ApprovalException ex)
        {
            throw new ApiException(ex.Status, ex.Code, ex.Message, ex.Field);
        }
    }

    private static ApprovalDto ToDto(PendingActionView v) => new(
        v.Id, v.Tool, v.Summary, v.Rationale, Json(v.InputJson), v.EditedInputJson is null ? null : Json(v.EditedInputJson), v.InputEditable,
        v.AmountMicros, v.OnBehalfOfUserId, v.OnBehalfOfName, v.ApproverRole, v.SourceKind, v.SourceId, v.SourceStepKey, v.Status,
        v.DecidedByName ?? v.DecidedById, v.Comment, v.CreatedUtc, v.ExpiresUtc, v.DecidedUtc,
        v.HandledUtc is not null && v.Status != PendingActionStatus.Cancelled, v.HandlerError);

    private static JsonElement Json(string text)
    {
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }
}
