using Microsoft.EntityFrameworkCore;

namespace Keystone.Data.Calls;

/// <summary>
/// A trace as its readers see it, whichever way it is stored. <see cref="RawRequestJson"/> and <see cref="RawResponseJson"/>
/// are filled only when the raw payloads were asked for; <see cref="HasRaw"/> says whether they exist either way.
/// </summary>
public sealed record StoredTrace(
    Guid CallId,
    Guid TenantId,
    string? RequestJson,
    string? ResponseJson,
    string? AttemptsJson,
    string? RawRequestJson,
    string? RawResponseJson,
    bool HasRaw,
    int RedactionCount,
    DateTime CreatedUtc,
    DateTime? RawPurgedUtc);

/// <summary>
/// The one reader of trace payloads (issue 26): the trace page, the raw view, the calls API, the eval sampler and the
/// tests read traces here and never the payload columns, because a trace is stored in one of two forms: its payloads in
/// its own <c>llm_traces</c> row (every trace on PostgreSQL; on SQLite those written before packing or through EF Core),
/// or, for the SQLite call recorder's traces, in a <see cref="LlmTracePack"/> that the row points at. The trace rows are
/// read through the context's tenant filter; a pack is used only when it belongs to the row's tenant and its slot names
/// the row's call, so a damaged pointer shows no payload rather than another trace's.
/// </summary>
public static class TracePayloads
{
    /// <summary>The traces of <paramref name="callIds"/> visible in <paramref name="db"/>'s scope (a call without a trace is absent).</summary>
    public static async Task<IReadOnlyDictionary<Guid, StoredTrace>> ReadAsync(KeystoneDbContext db, IReadOnlyCollection<Guid> callIds,
        bool raw, CancellationToken ct)
    {
        var ids = callIds.Distinct().ToList();
        var result = new Dictionary<Guid, StoredTrace>(ids.Count);
        if (ids.Count == 0)
        {
            return result;
        }

        var traces = db.Traces.AsNoTracking().Where(t => ids.Contains(t.CallId));
        // Raw payloads are read only when asked for (the raw view); otherwise only whether they exist.
        var rows = raw
            ? await traces.Select(t => new Row(t.CallId, t.TenantId, t.PackId, t.PackSlot, t.RequestJson, t.ResponseJson, t.AttemptsJson,
                t.RawRequestJson, t.RawResponseJson, t.RawRequestJson != null || t.RawResponseJson != null, t.RedactionCount, t.CreatedUtc, t.RawPurgedUtc)).ToListAsync(ct)
            : await traces.Select(t => new Row(t.CallId, t.TenantId, t.PackId, t.PackSlot, t.RequestJson, t.ResponseJson, t.AttemptsJson,
                null, null, t.RawRequestJson != null || t.RawResponseJson != null, t.RedactionCount, t.CreatedUtc, t.RawPurgedUtc)).ToListAsync(ct);

        var packIds = rows.Where(r => r.PackId is not null).Select(r => r.PackId!.Value).Distinct().ToList();
        var decoded = new Dictionary<long, (Guid TenantId, IReadOnlyList<PackedTrace> Slots, IReadOnlyDictionary<int, (string? Request, string? Response)>? Raw,
            bool HasRawPart, DateTime? RawPurgedUtc)>();
        // Only SQLite's recorder writes packs (the set exists only in the SQLite model): no pack id, no query.
        if (packIds.Count > 0)
        {
            var packs = await db.Set<LlmTracePack>().AsNoTracking().Where(p => packIds.Contains(p.Id))
                .Select(p => new { p.Id, p.TenantId, p.Payloads, HasRawPart = p.RawPayloads != null, p.RawPurgedUtc })
                .ToListAsync(ct);
            var rawBlobs = new Dictionary<long, byte[]>();
            if (raw && packs.Any(p => p.HasRawPart))
            {
                rawBlobs = await db.Set<LlmTracePack>().AsNoTracking().Where(p => packIds.Contains(p.Id) && p.RawPayloads != null)
                    .ToDictionaryAsync(p => p.Id, p => p.RawPayloads!, ct);
            }

            foreach (var p in packs)
            {
                decoded[p.Id] = (p.TenantId, TracePack.Decode(p.Payloads), rawBlobs.TryGetValue(p.Id, out var blob) ? TracePack.DecodeRaw(blob) : null,
                    p.HasRawPart, p.RawPurgedUtc);
            }
        }

        foreach (var r in rows)
        {
            if (r.PackId is not { } packId)
            {
                result[r.CallId] = new StoredTrace(r.CallId, r.TenantId, r.RequestJson, r.ResponseJson, r.AttemptsJson, r.RawRequestJson,
                    r.RawResponseJson, r.HasRaw, r.RedactionCount, r.CreatedUtc, r.RawPurgedUtc);
                continue;
            }

            if (!decoded.TryGetValue(packId, out var pack) || pack.TenantId != r.TenantId || r.PackSlot is not { } slot
                || slot < 0 || slot >= pack.Slots.Count || pack.Slots[slot].CallId != r.CallId)
            {
                // The pack is gone (retention deletes it with its newest trace; an older trace row of it is deleted first) or
                // does not match: the trace exists without payloads, as a trace row with NULL payloads reads.
                result[r.CallId] = new StoredTrace(r.CallId, r.TenantId, null, null, null, null, null, false, r.RedactionCount, r.CreatedUtc, r.RawPurgedUtc);
                continue;
            }

            var s = pack.Slots[slot];
            var hadRaw = s.HasRawRequest || s.HasRawResponse;
            (string? Request, string? Response) rawPair = default;
            if (pack.Raw is not null && pack.Raw.TryGetValue(slot, out var found))
            {
                rawPair = found;
            }

            result[r.CallId] = new StoredTrace(r.CallId, r.TenantId, s.RequestJson, s.ResponseJson, s.AttemptsJson, rawPair.Request, rawPair.Response,
                hadRaw && pack.HasRawPart, r.RedactionCount, r.CreatedUtc, hadRaw ? pack.RawPurgedUtc : null);
        }

        return result;
    }

    private sealed record Row(Guid CallId, Guid TenantId, long? PackId, int? PackSlot, string? RequestJson, string? ResponseJson, string? AttemptsJson,
        string? RawRequestJson, string? RawResponseJson, bool HasRaw, int RedactionCount, DateTime CreatedUtc, DateTime? RawPurgedUtc);

    /// <summary>One call's trace, or null.</summary>
    public static async Task<StoredTrace?> ReadOneAsync(KeystoneDbContext db, Guid callId, bool raw, CancellationToken ct)
        => (await ReadAsync(db, [callId], raw, ct)).GetValueOrDefault(callId);
}
