using System.Text;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Web.Components.Shared;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Prompts;

public sealed partial class PromptTestRun
{
    private const string None = "none";
    private const string DraftSource = "draft";
    private readonly Side[] _sides = [new("a", "A"), new("b", "B")];
    private CancellationTokenSource? _run;
    private RenderBatcher? _batcher;
    private bool _running;

    /// <summary>The prompt's name. Required.</summary>
    [Parameter, EditorRequired] public string PromptName { get; set; } = "";

    /// <summary>The prompt's versions, newest first. Default: none.</summary>
    [Parameter] public IReadOnlyList<PromptVersion> Versions { get; set; } = [];

    /// <summary>The draft being edited, offered as a source; null when none is open. Default null.</summary>
    [Parameter] public PromptVersionForm? Draft { get; set; }

    /// <summary>The sample variables the templates are rendered with. Default: none.</summary>
    [Parameter] public IReadOnlyDictionary<string, string> Samples { get; set; } = new Dictionary<string, string>();

    /// <summary>The tenant the calls run in (aliases, budgets); null disables running. Default null.</summary>
    [Parameter] public Guid? TenantId { get; set; }

    /// <summary>That tenant's name, as shown. Default null.</summary>
    [Parameter] public string? TenantName { get; set; }

    /// <summary>The version side A starts on (null: the draft, else the newest). Default null.</summary>
    [Parameter] public int? ShownVersion { get; set; }

    /// <summary>The version side B starts on (null: none). Default null.</summary>
    [Parameter] public int? CompareVersion { get; set; }

    [Inject] private PromptWorkbench Workbench { get; set; } = default!;

    [Inject] private TimeProvider Time { get; set; } = default!;

    protected override void OnParametersSet()
    {
        if (_running)
        {
            return;
        }

        _sides[0].Source = Draft is not null ? DraftSource : $"v{ShownVersion ?? (Versions.Count > 0 ? Versions[0].Number : 1)}";
        _sides[1].Source = CompareVersion is { } c && (Draft is not null || c != ShownVersion) ? $"v{c}" : None;
    }

    private async Task RunAsync()
    {
        if (TenantId is not { } tenantId)
        {
            return;
        }

        _run = new CancellationTokenSource();
        _batcher ??= new RenderBatcher(Time, TimeSpan.FromMilliseconds(50), () => InvokeAsync(StateHasChanged));
        _running = true;
        var active = _sides.Where(s => s.Source != None).ToList();
        foreach (var side in _sides)
        {
            side.Reset();
        }

        await Task.WhenAll(active.Select(side => RunSideAsync(side, tenantId, _run.Token)));
        _running = false;
        await _batcher.FlushNowAsync();
        StateHasChanged();
    }

    private async Task RunSideAsync(Side side, Guid tenantId, CancellationToken ct)
    {
        // Leave the renderer's thread: both sides stream at once, the batcher renders their progress.
        await Task.Yield();
        var version = Resolve(side.Source);
        if (version is null)
        {
            side.Fail("That version no longer exists.");
            return;
        }

        side.Label = side.Source == DraftSource ? "draft" : $"v{version.Number}";
        side.Started = true;
        side.State = "streaming";
        var started = Time.GetTimestamp();
        try
        {
            await foreach (var e in Workbench.TestRunAsync(PromptName, version, side.Alias, Samples, tenantId, ct))
            {
                switch (e)
                {
                    case StreamStarted s:
                        side.Provider = s.Provider;
                        side.Model = s.Model;
                        break;
                    case TextDelta d:
                        side.TtftMs ??= (int)Time.GetElapsedTime(started).TotalMilliseconds;
                        side.Append(d.Text);
                        _batcher?.MarkDirty();
                        break;
                    case StreamCompleted c:
                        side.Complete(c.Result.Outcome.CostMicros, c.Result.Usage.InputTokens, c.Result.Usage.OutputTokens);
                        break;
                    case StreamFailed f:
                        side.Fail(f.Error.Message);
                        side.CostMicros = f.Outcome?.CostMicros ?? 0;
                        break;
                }
            }
        }
        catch (PromptException ex)
        {
            side.Fail(ex.Message);
        }
        catch (GatewayException ex)
        {
            side.Fail(ex.Error.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            side.Fail("Stopped.");
        }
        finally
        {
            side.LatencyMs = (int)Time.GetElapsedTime(started).TotalMilliseconds;
            _batcher?.MarkDirty();
        }
    }

    private PromptVersion? Resolve(string source)
    {
        if (source == DraftSource)
        {
            return Draft is { } d ? new PromptVersion
            {
                Id = Guid.Empty,
                SystemTemplate = d.SystemTemplate ?? "",
                UserTemplate = d.UserTemplate ?? "",
                ModelAlias = d.ModelAlias?.Trim() ?? "",
                Temperature = d.Temperature,
                MaxTokens = d.MaxTokens,
                ResponseSchema = ResponseSchemaCheck.Validate(d.ResponseSchema) is null ? d.ResponseSchema : null,
            } : null;
        }

        return int.TryParse(source.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? Versions.FirstOrDefault(v => v.Number == n)
            : null;
    }

    private async Task StopAsync()
    {
        if (_run is { } run)
        {
            await run.CancelAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_run is { } run)
        {
            await run.CancelAsync();
            run.Dispose();
        }

        if (_batcher is { } batcher)
        {
            await batcher.DisposeAsync();
        }
    }

    /// <summary>One side of the comparison: what to run and what came back.</summary>
    private sealed class Side(string key, string name)
    {
        private readonly Lock _gate = new();
        private readonly StringBuilder _text = new();

        public string Key { get; } = key;
        public string Name { get; } = name;
        public string Source { get; set; } = None;
        public string? Alias { get; set; }
        public bool Started { get; set; }
        public string State { get; set; } = "idle";
        public string Label { get; set; } = "";
        public string? Provider { get; set; }
        public string? Model { get; set; }
        public string? Error { get; private set; }
        public long CostMicros { get; set; }
        public int LatencyMs { get; set; }
        public int? TtftMs { get; set; }
        public int InputTokens { get; private set; }
        public int OutputTokens { get; private set; }

        public string Shown
        {
            get
            {
                lock (_gate)
                {
                    return _text.ToString();
                }
            }
        }

        public void Append(string text)
        {
            lock (_gate)
            {
                _text.Append(text);
            }
        }

        public void Reset()
        {
            lock (_gate)
            {
                _text.Clear();
            }

            Started = false;
            State = "idle";
            Error = null;
            Provider = null;
            Model = null;
            CostMicros = 0;
            LatencyMs = 0;
            TtftMs = null;
            InputTokens = 0;
            OutputTokens = 0;
        }

        public void Complete(long costMicros, int input, int output)
        {
            CostMicros = costMicros;
            InputTokens = input;
            OutputTokens = output;
            State = "done";
        }

        public void Fail(string message)
        {
            Error = message;
            State = "failed";
        }
    }
}
