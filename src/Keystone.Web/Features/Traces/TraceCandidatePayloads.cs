using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Web.Features.Evals;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// The eval sampler's read of recorded calls (<see cref="IRecordedCallPayloads"/>, declared in Evals): the redacted
/// request and answer of each call, parsed by the same reader as the trace page. Raw payloads are never read. Tool
/// messages and assistant turns without text are left out: an eval example is a conversation of text turns.
/// </summary>
internal sealed class TraceCandidatePayloads(KeystoneDbFactory dbFactory) : IRecordedCallPayloads
{
    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "user", "assistant" };

    public async Task<IReadOnlyDictionary<Guid, RecordedCallPayload>> ReadAsync(IReadOnlyCollection<Guid> callIds, CancellationToken ct)
    {
        var ids = callIds.ToList();
        await using var db = dbFactory.ForSystem();
        var traces = await TracePayloads.ReadAsync(db, ids, raw: false, ct);
        var result = new Dictionary<Guid, RecordedCallPayload>();
        foreach (var row in traces.Values)
        {
            var payload = TracePayload.Parse(row.RequestJson, row.ResponseJson, null);
            var messages = payload.Messages.Where(m => Roles.Contains(m.Role) && !string.IsNullOrEmpty(m.Content))
                .Select(m => new EvalMessage(m.Role, m.Content!)).ToList();
            result[row.CallId] = new RecordedCallPayload(messages, payload.PromptVariables, payload.AnswerText);
        }

        return result;
    }
}
