using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Agents;

public sealed partial class AgentRunPage
{
    private RunDetail? _detail;
    private IReadOnlyList<string> _models = [];
    private int _fromStep;
    private string _model = "";
    private string? _error;
    private bool _loaded;
    private bool _busy;

    /// <summary>The run's id (route).</summary>
    [Parameter] public Guid Id { get; set; }

    /// <summary>
    /// The run whose opening was already audited in this page's prerender: the interactive render that follows is the
    /// same look and must not write a second <c>agent_run.view</c> entry (as the trace page does).
    /// </summary>
    [PersistentState] public Guid? AuditedId { get; set; }

    [Inject] private AgentRunViewer Viewer { get; set; } = default!;

    [Inject] private NavigationManager Navigation { get; set; } = default!;

    protected override async Task OnParametersSetAsync()
    {
        if (_loaded && _detail?.View.Run.Id == Id)
        {
            return;
        }

        _detail = await Viewer.OpenAsync(Id, writeAudit: AuditedId != Id, CancellationToken.None);
        _loaded = true;
        AuditedId = _detail is null ? null : Id;
        if (_detail is not null)
        {
            _models = await Viewer.ModelsAsync(_detail.View.Run.TenantId, CancellationToken.None);
            _model = _detail.View.Run.Model;
            // Default: from the first failed or refused step, else after the last.
            _fromStep = _detail.View.Steps.FirstOrDefault(s => s.ErrorCode is not null && s.ErrorCode != "suggested")?.Sequence ?? _detail.View.Steps.Count;
        }
    }

    private async Task ReplayAsync()
    {
        _busy = true;
        _error = null;
        try
        {
            var id = await Viewer.ReplayAsync(Id, _fromStep, _model, CancellationToken.None);
            Navigation.NavigateTo($"/agents/runs/{id}");
        }
        catch (AgentException ex)
        {
            _error = ex.Message;
        }
        finally
        {
            _busy = false;
        }
    }

    private static string Short(string? text) => text is null ? "" : text.Length <= 600 ? text : text[..600] + "…";
}
