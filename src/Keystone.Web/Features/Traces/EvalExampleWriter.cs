using Keystone.Web.Platform;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Web.Features.Evals;

namespace Keystone.Web.Features.Traces;

/// <summary>"Save as eval example": the trace's messages and an expected answer go to the prompt's eval set.</summary>
internal sealed class EvalExampleWriter(KeystoneDbFactory dbFactory, TenantContext tenant, AuditLog audit, TimeProvider clock)
{
    /// <summary>The eval set of calls made without a named prompt.</summary>
    public const string DefaultEvalSet = EvalSetStore.SupportSet;

    public const int MaxExpectedLength = 64_000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Saves the example; returns its id, or a validation message.</summary>
    public async Task<(Guid? Id, string? Error)> SaveAsync(TraceDetail trace, string expectedOutput, string? notes, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(expectedOutput))
        {
            return (null, "The expected output must not be empty.");
        }

        if (expectedOutput.Length > MaxExpectedLength)
        {
            return (null, $"The expected output is longer than {MaxExpectedLength} characters.");
        }

        if (trace.Payload.Messages.Count == 0)
        {
            return (null, "This trace has no recorded messages (its payload was deleted by retention).");
        }

        // The example lands in the trace's tenant's set for the prompt (created on first use), where the evals page
        // lists, edits and runs it; a prompt editor can copy it to the global set from there.
        var evalSet = trace.Call.PromptName ?? DefaultEvalSet;
        await EvalSetStore.EnsureSetAsync(dbFactory, evalSet, trace.Call.TenantId, clock, null, ct);
        var example = new EvalExample
        {
            Id = Guid.NewGuid(),
            Version = Guid.NewGuid(),
            TenantId = trace.Call.TenantId,
            EvalSet = evalSet,
            PromptName = trace.Call.PromptName,
            PromptVersionId = trace.Call.PromptVersionId,
            // A managed prompt's call keeps its (redacted) variables too: an eval can then run them on any version.
            InputJson = trace.Payload.PromptVariables is { } variables
                ? JsonSerializer.Serialize(new { variables, messages = Messages(trace) }, Json)
                : JsonSerializer.Serialize(new { messages = Messages(trace) }, Json),
            ExpectedOutput = expectedOutput,
            SourceCallId = trace.Call.Id,
            Notes = string.IsNullOrWhiteSpace(notes) ? null : notes.Trim()[..Math.Min(notes.Trim().Length, 2000)],
            CreatedByUserId = tenant.UserId ?? "unknown",
            CreatedUtc = clock.GetUtcNow().UtcDateTime,
        };

        // Written in the trace's own tenant: support staff act on a tenant they are not scoped to, and the
        // trace was already checked visible to them.
        await using var db = dbFactory.ForTenant(trace.Call.TenantId);
        db.EvalExamples.Add(example);
        await db.SaveChangesAsync(ct);
        await audit.WriteAsync("eval_example.create", $"eval_example:{example.Id}", example.TenantId, new { source = trace.Call.Id, evalSet = example.EvalSet }, ct);
        return (example.Id, null);
    }

    private static IEnumerable<object> Messages(TraceDetail trace) => trace.Payload.Messages.Select(m => new { m.Role, m.Content, m.ToolCallId, m.Name });
}
