using Keystone.Web.Platform;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Keystone.Data.Calls;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// Re-runs a recorded request through the gateway, on the same model or another: recorded as a new call
/// linked to the original, feature <c>support.replay</c>, billed to support (not the tenant's caps).
/// </summary>
internal sealed class TraceReplayer(IServiceProvider services, TenantContext tenant, AuditLog audit, PromptRenderer prompts)
{
    /// <summary>The feature label replays are recorded under.</summary>
    public const string Feature = "support.replay";

    // The gateway is registered by AddKeystoneGateway; without it (a host that did not add it) replay is
    // shown as unavailable instead of failing the whole detail page.
    private ILlmGateway? Gateway => services.GetService<ILlmGateway>();

    /// <summary>True when a gateway is registered.</summary>
    public bool IsAvailable => Gateway is not null;

    /// <summary>The aliases and chat models the trace's tenant may use.</summary>
    public async Task<IReadOnlyList<string>> ModelsAsync(Guid tenantId, CancellationToken ct)
    {
        if (Gateway is not { } gateway)
        {
            return [];
        }

        var models = await gateway.ModelsAsync(tenantId, ct);
        return models.Where(m => !m.IsEmbedding).Select(m => m.Id).ToList();
    }

    /// <summary>
    /// Streams the replay. The request is rebuilt from the redacted payload: support never sends or sees
    /// the raw text. <paramref name="model"/> null replays on the alias the original asked for.
    /// </summary>
    public IAsyncEnumerable<ChatStreamEvent> ReplayAsync(TraceDetail original, string? model, CancellationToken ct)
        => ReplayAsync(original, model, null, ct);

    /// <summary>
    /// Streams the replay, on another version of the original's managed prompt when <paramref name="promptVersionId"/>
    /// is given: the recorded (redacted) variables are rendered with that version's templates and parameters, on the
    /// model chosen (so the diff shows the prompt change alone). Throws <see cref="InvalidOperationException"/> when the
    /// call used no managed prompt or its variables were not recorded.
    /// </summary>
    public async IAsyncEnumerable<ChatStreamEvent> ReplayAsync(TraceDetail original, string? model, Guid? promptVersionId,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var gateway = Gateway ?? throw new InvalidOperationException("The gateway is not registered in this host.");
        ChatRequest request;
        var versionId = original.Call.PromptVersionId;
        int? versionNumber = null;
        if (promptVersionId is { } chosen && chosen != original.Call.PromptVersionId)
        {
            if (original.Call.PromptName is not { } promptName || original.Payload.PromptVariables is not { } variables)
            {
                throw new InvalidOperationException("This call was not made through a managed prompt with recorded variables, so it cannot be replayed on another prompt version.");
            }

            PromptVersion version;
            try
            {
                version = await prompts.VersionOfAsync(promptName, chosen, ct);
                request = BuildPromptRequest(original, version, variables, model);
            }
            catch (PromptException ex)
            {
                throw new InvalidOperationException(ex.Message, ex);
            }

            versionId = version.Id;
            versionNumber = version.Number;
        }
        else
        {
            request = BuildRequest(original, model);
        }

        var context = new CallContext
        {
            TenantId = original.Call.TenantId,
            UserId = tenant.UserId,
            EndUser = original.Call.EndUser,
            Feature = Feature,
            PromptName = original.Call.PromptName,
            PromptVersionId = versionId,
            BilledToOverride = BilledTo.Support,
            ReplayOfCallId = original.Call.Id,
        };
        await audit.WriteAsync("trace.replay", $"trace:{original.Call.Id}", original.Call.TenantId,
            versionNumber is null ? new { model = request.Model } : new { model = request.Model, promptVersion = versionNumber }, ct);
        await foreach (var e in gateway.StreamAsync(request, context, ct).WithCancellation(ct))
        {
            yield return e;
        }
    }

    /// <summary>
    /// The gateway request for a replay on another prompt version: <paramref name="version"/> rendered with the recorded
    /// variables, on <paramref name="model"/> (null: the alias the original asked for). Throws
    /// <see cref="PromptException"/> when the version needs a variable the original did not have.
    /// </summary>
    public static ChatRequest BuildPromptRequest(TraceDetail original, PromptVersion version, IReadOnlyDictionary<string, string> variables, string? model)
        => PromptRenderer.Render(version, variables) with
        {
            Model = ReplayModel(original, model),
            // A replay must reach the model: a cached answer would diff the original against itself.
            Cache = false,
        };

    /// <summary>The gateway request for a replay: the recorded messages, tools and sampling parameters.</summary>
    public static ChatRequest BuildRequest(TraceDetail original, string? model)
    {
        var p = original.Payload;
        if (p.Messages.Count == 0)
        {
            throw new InvalidOperationException("This trace has no recorded messages to replay (its payload was deleted by retention).");
        }

        return new ChatRequest
        {
            Model = ReplayModel(original, model),
            Messages = p.Messages.Select(m => new ChatMessage(m.Role, m.Content,
                m.ToolCalls.Count == 0 ? null : m.ToolCalls.Select(t => new ToolCall(t.Id ?? "", t.Name, Compact(t.Arguments))).ToList(),
                m.ToolCallId, m.Name)).ToList(),
            Temperature = p.Temperature,
            TopP = p.TopP,
            MaxTokens = p.MaxTokens,
            Seed = p.Seed,
            FrequencyPenalty = p.Sampling?.FrequencyPenalty,
            PresencePenalty = p.Sampling?.PresencePenalty,
            ReasoningEffort = p.Sampling?.ReasoningEffort,
            ParallelToolCalls = p.Sampling?.ParallelToolCalls,
            Stop = p.Stop.Count == 0 ? null : p.Stop,
            Tools = p.Tools.Count == 0 ? null : p.Tools.Select(t => new ToolDefinition(t.Name, t.Description,
                t.ParametersJson is null ? null : JsonDocument.Parse(t.ParametersJson).RootElement.Clone())).ToList(),
            // A replay must reach the model: a cached answer would diff the original against itself.
            Cache = false,
        };
    }

    /// <summary>The model a replay asks for: the one chosen, else the alias the original asked for.</summary>
    private static string ReplayModel(TraceDetail original, string? model) => string.IsNullOrWhiteSpace(model) ? original.Call.Alias : model.Trim();

    private static string Compact(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return JsonSerializer.Serialize(doc.RootElement);
        }
        catch (JsonException)
        {
            return json;
        }
    }
}
