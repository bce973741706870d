using System.Text;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Agents;
using Keystone.Gateway;
using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Agents;

/// <summary>
/// <c>/api/v1/agents</c> and <c>/api/v1/runs</c>: start a run (202 with its id), read its state and steps, follow its
/// events over SSE, cancel it. The key's tenant scopes everything; another tenant's ids answer 404.
/// </summary>
internal static class AgentEndpoints
{
    public static async Task<IResult> ListAgentsAsync(HttpContext http, AgentCatalog catalog)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var agents = await catalog.ListAsync(key.TenantId, http.RequestAborted);
        return TypedResults.Ok(new { agents = agents.Select(a => new AgentDto(a.Id, a.Name, a.ModelAlias, a.PromptName, a.PromptVersionNumber, a.Tools,
            a.RunBudgetMicros, a.DayBudgetMicros, a.MaxSteps)) });
    }

    public static async Task<IResult> StartAsync(HttpContext http, Guid id, ApiRequestBody body, AgentRunService runs)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var agentId = id;
        var input = await body.ReadAsync(http.Request, root =>
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid("body", "The request body must be a JSON object.");
            }

            return JsonFields.RequiredString(root, "input", AgentRunService.MaxInputLength);
        }, ct);
        var actor = new RunActor(null, key.KeyId, $"api-key:{key.KeyId}", AgentPermissions.ForApiKey(key.Scopes.Contains(ApiKeyScopes.Admin)));
        var run = await Map(() => runs.StartAsync(key.TenantId, agentId, input, actor, ct));
        return TypedResults.Accepted($"/api/v1/runs/{run.Id}", new RunStartedDto(run.Id, "queued", $"/api/v1/runs/{run.Id}", $"/api/v1/runs/{run.Id}/events"));
    }

    public static async Task<IResult> GetAsync(HttpContext http, Guid id, AgentRunService runs)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var view = await runs.GetAsync(key.TenantId, id, http.RequestAborted) ?? throw ApiException.NotFound("No run with that id in this tenant.");
        return TypedResults.Ok(RunDto.From(view));
    }

    public static async Task<IResult> CancelAsync(HttpContext http, Guid id, AgentRunService runs)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var by = new Keystone.Web.Features.Approvals.SourceCanceller("api_key", key.KeyId.ToString(), "API key " + key.Name);
        var state = await Map(() => runs.CancelAsync(key.TenantId, id, http.RequestAborted, by))
            ?? throw ApiException.NotFound("No run with that id in this tenant.");
        return TypedResults.Accepted($"/api/v1/runs/{id}", new { id, state = AgentRunEvents.StateName(state) });
    }

    /// <summary>
    /// <c>POST /api/v1/runs/{id}/replay</c> (admin key): a new run from a finished run's step <c>fromStep</c>, on the same
    /// model or <c>alias</c>; 202 with the new run's id. The original is untouched. A tenant's own replay is billed to the
    /// tenant (support's replays from the console are the platform's). Audited as the key.
    /// </summary>
    public static async Task<IResult> ReplayAsync(HttpContext http, Guid id, ApiRequestBody body, AgentRunService runs, AgentCatalog catalog, AuditLog audit)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var runId = id;
        var (fromStep, alias) = await body.ReadAsync(http.Request, root =>
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid("body", "The request body must be a JSON object.");
            }

            var step = JsonFields.OptionalInt(root, "fromStep", 0, AgentCatalog.MaxStepsLimit * 2)
                ?? throw ApiException.Invalid("fromStep", "fromStep is required: the step to replay from (0 replays the whole run).");
            return (step, JsonFields.OptionalString(root, "alias", 200));
        }, ct);
        if (alias is not null && !key.MayUse(alias))
        {
            throw new ApiException(403, GatewayErrorCodes.ModelNotAllowed, $"This key may not use '{alias}'.", "alias");
        }

        var models = await catalog.ModelsAsync(key.TenantId, ct);
        var actor = new RunActor(null, key.KeyId, $"api-key:{key.KeyId}", []);
        AgentRun replay;
        try
        {
            replay = await runs.ReplayAsync(key.TenantId, runId, fromStep, alias, actor, models, ct);
        }
        catch (AgentException ex)
        {
            // The service names the model "model"; this endpoint's field is "alias".
            throw new ApiException(ex.Status, ex.Code, ex.Message, ex.Param == "model" ? "alias" : ex.Param);
        }

        await audit.WriteAsync("agent_run.replay", $"agent_run:{runId}", key.TenantId,
            new { replay = replay.Id, fromStep, model = replay.Model, billedTo = "tenant" }, ct);
        return TypedResults.Accepted($"/api/v1/runs/{replay.Id}",
            new RunReplayedDto(replay.Id, "queued", runId, fromStep, replay.Model, "tenant", $"/api/v1/runs/{replay.Id}", $"/api/v1/runs/{replay.Id}/events"));
    }

    /// <summary>
    /// <c>GET /api/v1/runs/{id}/events</c>: every event of the run from the start (or after <c>Last-Event-ID</c>), then new
    /// ones as they are written, until <c>done</c>. The client's disconnect ends the stream.
    /// </summary>
    public static async Task EventsAsync(HttpContext http, Guid id, KeystoneDbFactory dbFactory, AgentRunNotices notices, TimeProvider clock)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var runId = id;
        long after = 0;
        if (http.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } last && !long.TryParse(last, System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out after))
        {
            throw ApiException.Invalid("Last-Event-ID", "Last-Event-ID must be the id of an event of this stream.");
        }

        await using (var db = dbFactory.ForTenant(key.TenantId))
        {
            if (!await db.AgentRuns.AnyAsync(r => r.Id == runId && r.TenantId == key.TenantId, ct))
            {
                throw ApiException.NotFound("No run with that id in this tenant.");
            }
        }

        // Subscribed before the first read: an event written between the read and the subscription still wakes the stream.
        // It reads again at each notice of the run (in process, and from other instances when they listen) and on the
        // run views' safety poll, instead of reading the table five times a second per open stream (decision 52).
        using var wakeup = new LiveWakeup();
        using var subscription = notices.Subscribe(key.TenantId, runId, _ => wakeup.Set());
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        await http.Response.Body.FlushAsync(ct);
        while (!ct.IsCancellationRequested)
        {
            List<AgentRunEvent> events;
            await using (var db = dbFactory.ForTenant(key.TenantId))
            {
                events = await db.AgentRunEvents.AsNoTracking().Where(e => e.RunId == runId && e.Id > after).OrderBy(e => e.Id).Take(200).ToListAsync(ct);
            }

            foreach (var e in events)
            {
                var frame = $"id: {e.Id}\nevent: {e.Type}\ndata: {e.DataJson}\n\n";
                await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(frame), ct);
                after = e.Id;
                if (e.Type == AgentRunEvents.Done)
                {
                    await http.Response.Body.FlushAsync(ct);
                    return;
                }
            }

            await http.Response.Body.FlushAsync(ct);
            if (events.Count == 0)
            {
                await wakeup.WaitAsync(notices.SafetyPoll, clock, ct);
            }
        }
    }

    private static async Task<T> Map<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (AgentException ex)
        {
            throw new ApiException(ex.Status, ex.Code, ex.Message, ex.Param);
        }
    }
}
