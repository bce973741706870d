using Keystone.Gateway;
using Keystone.Web.Features.Knowledge;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Playground;

/// <summary>
/// "Use knowledge": with the switch on, each turn retrieves the tenant's passages for the question and sends them in a
/// system message just before it, delimited and marked as data (<see cref="KnowledgeGrounding"/>); the passages cited
/// are listed under the answer. They are not saved with the conversation (REVIEW: persist them if people reopen
/// grounded conversations to check their sources).
/// </summary>
public sealed partial class PlaygroundPage
{
    [Inject] private KnowledgeGrounding Grounding { get; set; } = default!;

    private bool _useKnowledge;

    /// <summary>The passages sent with each turn (by its sequence); an empty list when the documents held nothing.</summary>
    private readonly Dictionary<int, IReadOnlyList<RetrievalHit>> _citations = [];

    private async Task<List<ChatMessage>> WithKnowledgeAsync(List<ChatMessage> history, int sequence, CallContext context)
    {
        _citations.Remove(sequence);
        if (!_useKnowledge || history.Count == 0 || history[^1] is not { Role: "user", Content: { Length: > 0 } question })
        {
            return history;
        }

        try
        {
            var grounded = await Grounding.GroundAsync(context.TenantId, question, context, _life.Token);
            _citations[sequence] = grounded?.Citations ?? [];
            if (grounded is null)
            {
                return history;
            }

            var withPassages = new List<ChatMessage>(history);
            withPassages.Insert(history.Count - 1, grounded.Context);
            return withPassages;
        }
        catch (GatewayException ex)
        {
            // The question still goes, without the documents, and the person is told so.
            _error = "Your documents could not be searched, so this answer does not use them: " + PlainWords.For(ex.Error);
            return history;
        }
    }
}
