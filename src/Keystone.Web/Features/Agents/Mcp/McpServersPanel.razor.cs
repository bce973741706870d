using Keystone.Web.Platform;
using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Keystone.Web.Features.Agents.Mcp;

/// <summary>The agents page's MCP servers: register, state, refresh, remove. Tells the page when the tool list changed.</summary>
public sealed partial class McpServersPanel : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private IReadOnlyList<McpServerView> _servers = [];
    private string _name = "";
    private string _url = "";
    private string _authorization = "";
    private string? _error;
    private bool _busy;

    [Parameter, EditorRequired] public Guid TenantId { get; set; }

    /// <summary>Called after a change that adds or removes tools.</summary>
    [Parameter] public EventCallback Changed { get; set; }

    [Inject] private McpServerCatalog Catalog { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    protected override async Task OnParametersSetAsync() => _servers = await Catalog.ListAsync(TenantId, _cts.Token);

    private async Task RegisterAsync()
    {
        await ChangeAsync(async () =>
        {
            await Catalog.RegisterAsync(TenantId, new McpServerInput(_name, _url, _authorization), Tenant.UserId ?? "", _cts.Token);
            _name = _url = _authorization = "";
        });
    }

    private Task RefreshAsync(Guid id) => ChangeAsync(() => Catalog.RefreshAsync(TenantId, id, _cts.Token));

    private Task RemoveAsync(Guid id) => ChangeAsync(() => Catalog.RemoveAsync(TenantId, id, _cts.Token));

    private async Task ChangeAsync(Func<Task> change)
    {
        _busy = true;
        _error = null;
        try
        {
            await change();
        }
        catch (AgentException ex)
        {
            _error = ex.Message;
        }
        finally
        {
            _busy = false;
        }

        _servers = await Catalog.ListAsync(TenantId, _cts.Token);
        await Changed.InvokeAsync();
    }

    private static string StateText(string state) => state switch
    {
        "ok" => "answering",
        McpServerException.Down => "down",
        McpServerException.Invalid => "not usable",
        _ => "not checked yet",
    };

    private static Color StateColor(string state) => state switch
    {
        "ok" => Color.Success,
        McpServerException.Down => Color.Error,
        McpServerException.Invalid => Color.Warning,
        _ => Color.Default,
    };

    public void Dispose()
    {
        _cts.Cancel();
        _cts.Dispose();
    }
}
