using System.Globalization;
using System.Text.Json;
using Keystone.Web.Platform;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Audit;

/// <summary>A filter over the audit log.</summary>
internal sealed record AuditFilter(string? Action, string? Actor, DateTime? FromUtc, DateTime? ToUtc, int Skip = 0, int Take = 50);

/// <summary>One audit row as shown on the page.</summary>
internal sealed record AuditRow(long Id, DateTime CreatedUtc, string ActorType, string ActorId, string? ActorName,
    string? OnBehalfOf, string? TenantName, string Action, string? Target, string? MetadataJson)
{
    /// <summary>Who acted, by name: the user's display name, the API key's name, else what the entry recorded.</summary>
    public string ActorLabel { get; init; } = ActorName ?? ActorId;

    /// <summary>What was acted on, by name where the id is a tenant, user or API key ("Tenant Acme"), else as recorded.</summary>
    public string? TargetLabel { get; init; } = Target;

    /// <summary>Where the target can be looked at (an agent run, the run an approval was asked for); null when nowhere.</summary>
    public string? TargetHref { get; init; }

    /// <summary>For whom the actor acted (an agent for a member, an approval for its requester), by name; null when for nobody.</summary>
    public string? OnBehalfOfLabel { get; init; } = OnBehalfOf;

    /// <summary>The metadata as readable fields (nested objects flattened as <c>a › b</c>), in their recorded order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Details { get; init; } = [];
}

/// <summary>Reads the audit log in the caller's tenant scope (platform admins: all; tenant admins: their own).</summary>
internal sealed class AuditQueries(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    public async Task<(IReadOnlyList<AuditRow> Rows, int Total)> SearchAsync(AuditFilter filter, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var q = db.AuditLog.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(filter.Action))
        {
            q = q.Where(a => a.Action.Contains(filter.Action));
        }

        if (!string.IsNullOrWhiteSpace(filter.Actor))
        {
            q = q.Where(a => a.ActorId.Contains(filter.Actor) || (a.ActorName != null && a.ActorName.Contains(filter.Actor)));
        }

        if (filter.FromUtc is { } from)
        {
            q = q.Where(a => a.CreatedUtc >= from);
        }

        if (filter.ToUtc is { } to)
        {
            q = q.Where(a => a.CreatedUtc < to);
        }

        var total = await q.CountAsync(ct);
        var rows = await q.OrderByDescending(a => a.CreatedUtc).ThenByDescending(a => a.Id)
            .Skip(filter.Skip).Take(Math.Clamp(filter.Take, 1, 500))
            .Select(a => new AuditRow(a.Id, a.CreatedUtc, a.ActorType, a.ActorId, a.ActorName, a.OnBehalfOf,
                db.Tenants.Where(t => t.Id == a.TenantId).Select(t => t.Name).FirstOrDefault(),
                a.Action, a.Target, a.MetadataJson))
            .ToListAsync(ct);
        return (await NameAsync(db, rows, ct), total);
    }

    /// <summary>
    /// Replaces the ids an entry records (actor, target) with the names a reader knows, looked up in one query per kind
    /// for the whole page. An id that no longer resolves (a removed member) stays as recorded.
    /// </summary>
    private static async Task<IReadOnlyList<AuditRow>> NameAsync(KeystoneDbContext db, List<AuditRow> rows, CancellationToken ct)
    {
        var userIds = new HashSet<string>(StringComparer.Ordinal);
        var tenantIds = new HashSet<Guid>();
        var keyIds = new HashSet<Guid>();
        var actionIds = new HashSet<Guid>();
        var runIds = new HashSet<Guid>();
        foreach (var r in rows)
        {
            // Agents act for a member (a user id) or for an API key (api-key:<id>); approvals record the requester.
            if (r.OnBehalfOf is { Length: > 0 } behalf)
            {
                if (Guid.TryParse(Strip(behalf, "api-key:"), out var behalfKey) && behalf.StartsWith("api-key:", StringComparison.Ordinal))
                {
                    keyIds.Add(behalfKey);
                }
                else
                {
                    userIds.Add(behalf);
                }
            }

            if (r.ActorType == "user")
            {
                userIds.Add(r.ActorId);
            }
            else if (r.ActorType == "api_key" && Guid.TryParse(Strip(r.ActorId, "apikey:"), out var actorKey))
            {
                keyIds.Add(actorKey);
            }

            switch (Split(r.Target))
            {
                case ("user", var id) when !id.Contains('@', StringComparison.Ordinal): userIds.Add(id); break;
                case ("tenant", var id) when Guid.TryParse(id, out var t): tenantIds.Add(t); break;
                case ("apikey", var id) when Guid.TryParse(id, out var k): keyIds.Add(k); break;
                case ("pending_action", var id) when Guid.TryParse(id, out var a): actionIds.Add(a); break;
                case ("agent_run", var id) when Guid.TryParse(id, out var run): runIds.Add(run); break;
            }
        }

        // Approvals name what was asked and the run that asked; runs name their agent. Read in the reader's tenant scope.
        var actions = actionIds.Count == 0 ? [] : await db.PendingActions.AsNoTracking().Where(a => actionIds.Contains(a.Id))
            .Select(a => new { a.Id, a.Tool, a.Summary, a.SourceKind, a.SourceId }).ToDictionaryAsync(a => a.Id, ct);
        foreach (var a in actions.Values.Where(a => a.SourceKind == AgentRunSource))
        {
            runIds.Add(a.SourceId);
        }

        var runs = runIds.Count == 0 ? [] : await db.AgentRuns.AsNoTracking().Where(r => runIds.Contains(r.Id))
            .ToDictionaryAsync(r => r.Id, r => r.AgentName, ct);

        var users = userIds.Count == 0 ? [] : await db.Users.AsNoTracking().Where(u => userIds.Contains(u.Id))
            .ToDictionaryAsync(u => u.Id, u => string.IsNullOrEmpty(u.DisplayName) ? u.Email ?? u.Id : $"{u.DisplayName} ({u.Email})", ct);
        var tenants = tenantIds.Count == 0 ? [] : await db.Tenants.AsNoTracking().Where(t => tenantIds.Contains(t.Id)).ToDictionaryAsync(t => t.Id, t => t.Name, ct);
        var keys = keyIds.Count == 0 ? [] : await db.ApiKeys.AsNoTracking().Where(k => keyIds.Contains(k.Id)).ToDictionaryAsync(k => k.Id, k => k.Name, ct);

        return rows.Select(r => r with
        {
            ActorLabel = r.ActorType switch
            {
                "user" when users.TryGetValue(r.ActorId, out var name) => name,
                "api_key" when Guid.TryParse(Strip(r.ActorId, "apikey:"), out var k) && keys.TryGetValue(k, out var key) => $"API key “{key}”",
                _ => r.ActorName ?? r.ActorId,
            },
            TargetLabel = Split(r.Target) switch
            {
                ("user", var id) when users.TryGetValue(id, out var name) => "Member " + name,
                ("user", var id) => "Member " + id,
                ("tenant", var id) when Guid.TryParse(id, out var t) && tenants.TryGetValue(t, out var name) => "Tenant " + name,
                ("apikey", var id) when Guid.TryParse(id, out var k) && keys.TryGetValue(k, out var name) => $"API key “{name}”",
                ("prompt", var id) => "Prompt " + id,
                ("model", var id) => "Model " + id,
                ("feature", var id) => "Feature " + id,
                ("provider", var id) => "Provider " + id,
                ("trace", var id) => "Trace " + id,
                ("pending_action", var id) when Guid.TryParse(id, out var a) && actions.TryGetValue(a, out var action)
                    => $"Approval of {action.Tool}: {action.Summary}"
                        + (action.SourceKind == AgentRunSource && runs.TryGetValue(action.SourceId, out var asker) ? $" (asked by a run of {asker})" : ""),
                ("pending_action", _) => "Approval (no longer stored)",
                ("agent_run", var id) when Guid.TryParse(id, out var run) && runs.TryGetValue(run, out var agent) => $"Run of agent {agent}",
                ("agent_run", _) => "Agent run (no longer stored)",
                _ => r.Target,
            },
            TargetHref = Split(r.Target) switch
            {
                ("agent_run", var id) when Guid.TryParse(id, out var run) && runs.ContainsKey(run) => $"/agents/runs/{run}",
                ("pending_action", var id) when Guid.TryParse(id, out var a) && actions.TryGetValue(a, out var action) && action.SourceKind == AgentRunSource
                    && runs.ContainsKey(action.SourceId) => $"/agents/runs/{action.SourceId}",
                ("pending_action", _) => "/approvals",
                _ => null,
            },
            OnBehalfOfLabel = r.OnBehalfOf switch
            {
                null or "" => null,
                var b when b.StartsWith("api-key:", StringComparison.Ordinal) && Guid.TryParse(Strip(b, "api-key:"), out var k) && keys.TryGetValue(k, out var key)
                    => $"API key “{key}”",
                var b when users.TryGetValue(b, out var name) => name,
                var b => b,
            },
            Details = Fields(r.MetadataJson),
        }).ToList();
    }

    /// <summary>A recorded metadata object as name/value fields: names in words, values as text, nesting flattened.</summary>
    internal static IReadOnlyList<KeyValuePair<string, string>> Fields(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            var fields = new List<KeyValuePair<string, string>>();
            Flatten(doc.RootElement, "", fields);
            return fields;
        }
        catch (JsonException)
        {
            return [new("details", json)]; // Not JSON after all: shown as written.
        }
    }

    private static void Flatten(JsonElement e, string prefix, List<KeyValuePair<string, string>> into)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    Flatten(p.Value, prefix.Length == 0 ? Words(p.Name) : $"{prefix} › {Words(p.Name)}", into);
                }

                break;
            case JsonValueKind.Array:
                into.Add(new(prefix.Length == 0 ? "items" : prefix, string.Join(", ", e.EnumerateArray().Select(Text))));
                break;
            default:
                into.Add(new(prefix.Length == 0 ? "value" : prefix, Text(e)));
                break;
        }
    }

    private static string Text(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString() ?? "",
        JsonValueKind.Null => "none",
        JsonValueKind.True => "yes",
        JsonValueKind.False => "no",
        JsonValueKind.Number => e.TryGetInt64(out var n) ? n.ToString("N0", CultureInfo.InvariantCulture) : e.GetRawText(),
        _ => e.GetRawText(),
    };

    /// <summary><c>limitMicros</c> and <c>limit_micros</c> both read "limit micros".</summary>
    private static string Words(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (c is '_' or '-')
            {
                sb.Append(' ');
            }
            else if (char.IsUpper(c) && i > 0 && !char.IsUpper(name[i - 1]))
            {
                sb.Append(' ').Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(i == 0 ? char.ToLowerInvariant(c) : c);
            }
        }

        return sb.ToString();
    }

    /// <summary>The source kind agent runs ask for approval under (Approvals records it; Audit reads the tables, not the features).</summary>
    private const string AgentRunSource = "agent_run";

    private static (string Kind, string Id) Split(string? target)
    {
        var colon = target?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        return colon <= 0 ? ("", target ?? "") : (target![..colon], target[(colon + 1)..]);
    }

    private static string Strip(string value, string prefix) => value.StartsWith(prefix, StringComparison.Ordinal) ? value[prefix.Length..] : value;
}
