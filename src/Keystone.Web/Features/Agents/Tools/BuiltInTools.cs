using System.Globalization;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Data.Calls;
using Keystone.Gateway;
using Keystone.Web.Features.Knowledge;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents.Tools;

/// <summary>Idempotent inserts shared by the built-in tools: the first row written under a key is the answer to every repeat.</summary>
internal static class IdempotentWrite
{
    /// <summary>
    /// Returns the row stored under the key, or adds <paramref name="create"/>'s row. Two workers racing on one key both
    /// end with the one row the unique index let through.
    /// </summary>
    public static async Task<T> OnceAsync<T>(KeystoneDbFactory dbFactory, Guid tenantId, Func<KeystoneDbContext, IQueryable<T>> set,
        Func<T, string> keyOf, string key, Func<T> create, CancellationToken ct) where T : class
    {
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            var existing = await set(db).AsNoTracking().Where(e => EF.Property<string>(e, "IdempotencyKey") == key).FirstOrDefaultAsync(ct);
            if (existing is not null)
            {
                return existing;
            }

            var row = create();
            db.Add(row);
            try
            {
                await db.SaveChangesAsync(ct);
                return row;
            }
            catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
            {
                // Another worker wrote the same key first: its row is the result.
            }
        }

        await using var again = dbFactory.ForTenant(tenantId);
        return await set(again).AsNoTracking().Where(e => EF.Property<string>(e, "IdempotencyKey") == key).FirstAsync(ct);
    }
}

/// <summary><c>get_usage_summary</c>: the tenant's calls and spend today and this month (read-only).</summary>
internal sealed class GetUsageSummaryTool : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = new(
        "get_usage_summary",
        "The tenant's model usage: number of calls and spend in US dollars, for today or this month (UTC).",
        """{"type":"object","properties":{"period":{"type":"string","enum":["today","month"]}},"required":["period"],"additionalProperties":false}""",
        AgentPermissions.UsageRead, AutonomyLevel.Autonomous, ToolRisk.Read, Audited: false, OutputCapChars: 2_000, InputEditable: false);

    public string Summarize(JsonElement input) => $"Read the usage summary for {input.GetProperty("period").GetString()}.";

    public async Task<string> ExecuteAsync(ToolInvocation invocation, KeystoneDbFactory dbFactory, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var period = invocation.Input.GetProperty("period").GetString();
        var from = period == "month" ? new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc) : now.Date;
        await using var db = dbFactory.ForTenant(invocation.TenantId);
        // REVIEW: reads llm_calls directly rather than through Usage's UsageReader (which answers from rollups) to keep
        // Agents free of a Usage dependency; switch if the tool ever needs feature or model breakdowns.
        var totals = await db.Calls.AsNoTracking()
            .Where(c => c.TenantId == invocation.TenantId && c.CreatedUtc >= from && c.Status != CallStatus.Rejected)
            .GroupBy(_ => 1)
            .Select(g => new { Calls = g.Count(), Cost = g.Sum(c => c.CostMicros) })
            .FirstOrDefaultAsync(ct);
        return JsonSerializer.Serialize(new
        {
            period,
            from_utc = from,
            calls = totals?.Calls ?? 0,
            spend_usd = ((totals?.Cost ?? 0) / 1_000_000m).ToString("0.000000", CultureInfo.InvariantCulture),
        });
    }
}

/// <summary><c>create_support_ticket</c>: an internal ticket record; L2 by default, so it is opened at once and can be undone.</summary>
internal sealed class CreateSupportTicketTool : IUndoableTool
{
    public ToolDescriptor Descriptor { get; } = new(
        "create_support_ticket",
        "Opens an internal support ticket for the support team.",
        """{"type":"object","properties":{"subject":{"type":"string","minLength":1,"maxLength":300},"body":{"type":"string","minLength":1,"maxLength":20000},"priority":{"type":"string","enum":["low","normal","high"]}},"required":["subject","body","priority"],"additionalProperties":false}""",
        AgentPermissions.TicketsCreate, AutonomyLevel.ActWithUndo, ToolRisk.Internal, Audited: true, OutputCapChars: 1_000, InputEditable: true);

    public string Summarize(JsonElement input) => $"Open a {input.GetProperty("priority").GetString()}-priority support ticket: \"{input.GetProperty("subject").GetString()}\".";

    public async Task<string> ExecuteAsync(ToolInvocation invocation, KeystoneDbFactory dbFactory, TimeProvider clock, CancellationToken ct)
    {
        var input = invocation.Input;
        var ticket = await IdempotentWrite.OnceAsync(dbFactory, invocation.TenantId, db => db.SupportTickets, t => t.IdempotencyKey, invocation.IdempotencyKey,
            () => new SupportTicket
            {
                Id = Guid.CreateVersion7(), TenantId = invocation.TenantId, IdempotencyKey = invocation.IdempotencyKey, RunId = invocation.RunId,
                Subject = input.GetProperty("subject").GetString()!, Body = input.GetProperty("body").GetString()!,
                Priority = input.GetProperty("priority").GetString()!, CreatedUtc = clock.GetUtcNow().UtcDateTime,
            }, ct);
        return JsonSerializer.Serialize(new { ticket_id = ticket.Id, status = "open" });
    }

    /// <summary>Withdraws the ticket: one conditional update (not undone yet, made within the window).</summary>
    public async Task<UndoResult> UndoAsync(Guid tenantId, string idempotencyKey, string actor, DateTime madeAfterUtc, KeystoneDbFactory dbFactory,
        TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        var changed = await db.SupportTickets
            .Where(t => t.TenantId == tenantId && t.IdempotencyKey == idempotencyKey && t.UndoneUtc == null && t.CreatedUtc >= madeAfterUtc)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.UndoneUtc, now).SetProperty(t => t.UndoneBy, actor), ct);
        var row = await db.SupportTickets.AsNoTracking().Where(t => t.TenantId == tenantId && t.IdempotencyKey == idempotencyKey)
            .Select(t => new { t.UndoneUtc, t.UndoneBy }).FirstOrDefaultAsync(ct);
        return row is null ? new UndoResult(UndoOutcome.NothingToUndo, null, null)
            : changed == 1 ? new UndoResult(UndoOutcome.Undone, row.UndoneUtc, row.UndoneBy)
            : row.UndoneUtc is not null ? new UndoResult(UndoOutcome.AlreadyUndone, row.UndoneUtc, row.UndoneBy)
            : new UndoResult(UndoOutcome.WindowClosed, null, null);
    }

    public async Task<UndoResult?> UndoStateAsync(Guid tenantId, string idempotencyKey, KeystoneDbFactory dbFactory, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var row = await db.SupportTickets.AsNoTracking().Where(t => t.TenantId == tenantId && t.IdempotencyKey == idempotencyKey)
            .Select(t => new { t.UndoneUtc, t.UndoneBy }).FirstOrDefaultAsync(ct);
        return row is null ? null
            : new UndoResult(row.UndoneUtc is null ? UndoOutcome.NothingToUndo : UndoOutcome.AlreadyUndone, row.UndoneUtc, row.UndoneBy);
    }
}

/// <summary>
/// <c>send_email</c>: external, so L3 by default and at most. In the embedded mode (the only one built so far) it writes
/// to the local mail sink the console shows instead of a mail server.
/// </summary>
internal sealed class SendEmailTool : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = new(
        "send_email",
        "Sends an email to a customer.",
        """{"type":"object","properties":{"to":{"type":"string","format":"email","pattern":"^[^@\\s]+@[^@\\s]+$","maxLength":320},"subject":{"type":"string","minLength":1,"maxLength":300},"body":{"type":"string","minLength":1,"maxLength":20000}},"required":["to","subject","body"],"additionalProperties":false}""",
        AgentPermissions.EmailSend, AutonomyLevel.ConfirmEach, ToolRisk.External, Audited: true, OutputCapChars: 1_000, InputEditable: true);

    public string Summarize(JsonElement input) => $"Send an email to {input.GetProperty("to").GetString()}: \"{input.GetProperty("subject").GetString()}\".";

    public async Task<string> ExecuteAsync(ToolInvocation invocation, KeystoneDbFactory dbFactory, TimeProvider clock, CancellationToken ct)
    {
        var input = invocation.Input;
        var mail = await IdempotentWrite.OnceAsync(dbFactory, invocation.TenantId, db => db.MailSink, m => m.IdempotencyKey, invocation.IdempotencyKey,
            () => new MailSinkMessage
            {
                Id = Guid.CreateVersion7(), TenantId = invocation.TenantId, IdempotencyKey = invocation.IdempotencyKey, RunId = invocation.RunId,
                To = input.GetProperty("to").GetString()!, Subject = input.GetProperty("subject").GetString()!,
                Body = input.GetProperty("body").GetString()!, CreatedUtc = clock.GetUtcNow().UtcDateTime,
            }, ct);
        return JsonSerializer.Serialize(new { message_id = mail.Id, status = "sent", to = mail.To });
    }
}

/// <summary><c>issue_credit</c>: spends money, so L3 by default and at most; the amount is shown to the approver.</summary>
internal sealed class IssueCreditTool : IAgentTool
{
    /// <summary>The most one call may credit: $500.</summary>
    public const int MaxCents = 50_000;

    public ToolDescriptor Descriptor { get; } = new(
        "issue_credit",
        "Issues a credit to a customer's account, in US cents.",
        $$$"""{"type":"object","properties":{"customer":{"type":"string","minLength":1,"maxLength":200},"amount_cents":{"type":"integer","minimum":1,"maximum":{{{MaxCents}}}},"reason":{"type":"string","minLength":1,"maxLength":2000}},"required":["customer","amount_cents","reason"],"additionalProperties":false}""",
        AgentPermissions.CreditsIssue, AutonomyLevel.ConfirmEach, ToolRisk.Spending, Audited: true, OutputCapChars: 1_000, InputEditable: true);

    public long? AmountMicros(JsonElement input) => input.GetProperty("amount_cents").GetInt64() * 10_000;

    public string Summarize(JsonElement input)
        => $"Credit {(input.GetProperty("amount_cents").GetInt64() / 100m).ToString("$0.00", CultureInfo.InvariantCulture)} to {input.GetProperty("customer").GetString()}.";

    public async Task<string> ExecuteAsync(ToolInvocation invocation, KeystoneDbFactory dbFactory, TimeProvider clock, CancellationToken ct)
    {
        var input = invocation.Input;
        var credit = await IdempotentWrite.OnceAsync(dbFactory, invocation.TenantId, db => db.CustomerCredits, c => c.IdempotencyKey, invocation.IdempotencyKey,
            () => new CustomerCredit
            {
                Id = Guid.CreateVersion7(), TenantId = invocation.TenantId, IdempotencyKey = invocation.IdempotencyKey, RunId = invocation.RunId,
                Customer = input.GetProperty("customer").GetString()!, AmountMicros = AmountMicros(input)!.Value,
                Reason = input.GetProperty("reason").GetString()!, CreatedUtc = clock.GetUtcNow().UtcDateTime,
            }, ct);
        return JsonSerializer.Serialize(new { credit_id = credit.Id, customer = credit.Customer, amount_cents = credit.AmountMicros / 10_000 });
    }
}

/// <summary>
/// <c>search_docs</c>: the top passages of the run's tenant's knowledge documents for a question, with citations. Read-only,
/// so L5 (runs at once, each call audited). The retriever is asked for the run's tenant only — never one the model names —
/// and the passages come back between delimiters marked as data, never instructions (as "use knowledge" sends them).
/// </summary>
internal sealed class SearchDocsTool(IServiceScopeFactory scopes) : IAgentTool
{
    public const int MaxK = 8;

    public ToolDescriptor Descriptor { get; } = new(
        "search_docs",
        "Searches this workspace's knowledge documents and returns the best-matching passages with their sources. Cite passages by number, like [1].",
        $$$"""{"type":"object","properties":{"query":{"type":"string","minLength":1,"maxLength":{{{KnowledgeRetriever.MaxQueryLength}}}},"k":{"type":"integer","minimum":1,"maximum":{{{MaxK}}}}},"required":["query"],"additionalProperties":false}""",
        AgentPermissions.DocsRead, AutonomyLevel.Autonomous, ToolRisk.Read, Audited: false, OutputCapChars: 16_000, InputEditable: false);

    public string Summarize(JsonElement input) => $"Search the documents for \"{input.GetProperty("query").GetString()}\".";

    public async Task<string> ExecuteAsync(ToolInvocation invocation, KeystoneDbFactory dbFactory, TimeProvider clock, CancellationToken ct)
    {
        var query = invocation.Input.GetProperty("query").GetString()!;
        var k = invocation.Input.TryGetProperty("k", out var kValue) ? kValue.GetInt32() : 4;
        using var scope = scopes.CreateScope();
        var retriever = scope.ServiceProvider.GetRequiredService<KnowledgeRetriever>();
        RetrievalResult result;
        try
        {
            result = await retriever.RetrieveAsync(invocation.TenantId, new RetrievalQuery(query, k),
                new CallContext { TenantId = invocation.TenantId }, ct);
        }
        catch (KnowledgeRequestException ex)
        {
            throw new ToolException(ToolGate.InvalidInput, ex.Message);
        }
        catch (GatewayException ex)
        {
            throw new ToolException("search_unavailable", $"The document search could not run: {ex.Error.Message}");
        }

        if (result.Hits.Count == 0)
        {
            return JsonSerializer.Serialize(new { passages = "", citations = Array.Empty<object>(), note = "No passage of this workspace's documents matches. Say so rather than guessing." });
        }

        return JsonSerializer.Serialize(new
        {
            // Delimited and marked as data by the same writer "use knowledge" uses: a document cannot close its passage early.
            passages = KnowledgeGrounding.ContextMessage(result.Hits),
            citations = result.Hits.Select((h, i) => new
            {
                n = i + 1, document = h.DocumentName, title = h.DocumentTitle, section = h.Section, document_id = h.DocumentId, chunk_id = h.ChunkId,
            }),
        });
    }
}
