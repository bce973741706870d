using System.Globalization;
using Keystone.Web.Platform;
using System.Text;
using Keystone.Gateway;
using Keystone.Web.Components.Shared;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Hosting;
using Microsoft.AspNetCore.Components;

namespace Keystone.Web.Features.Traces;

public sealed partial class TraceReplayPanel
{
    // Batch re-renders while the answer streams: one per 50 ms, not one per token.
    private static readonly TimeSpan RenderInterval = TimeSpan.FromMilliseconds(50);

    private readonly StringBuilder _text = new();
    private CancellationTokenSource _cts = new();
    private IReadOnlyList<string> _models = [];
    private string? _model;
    private bool _running;
    private string? _error;
    private StreamStarted? _started;
    private ChatResult? _result;
    private IReadOnlyList<WordRun> _diff = [];
    private string? _expected;
    private string? _notes;
    private string? _saveMessage;
    private IReadOnlyList<PromptVersionOption> _promptVersions = [];
    private Guid? _promptVersionId;
    private int? _replayedVersion;

    /// <summary>The trace being replayed. Required.</summary>
    [Parameter, EditorRequired] public TraceDetail Detail { get; set; } = default!;

    [Inject] private TraceReplayer Replayer { get; set; } = default!;

    [Inject] private EvalExampleWriter Examples { get; set; } = default!;

    [Inject] private PromptCatalog Prompts { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private TimeProvider Time { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        _model = Detail.Call.Alias;
        _expected = Detail.Payload.AnswerText;
        _promptVersionId = Detail.Call.PromptVersionId;
        // The version picker needs the recorded variables (calls made through a managed prompt) and a prompt reader.
        if (Detail.Call.PromptName is { } prompt && Detail.Payload.PromptVariables is not null
            && Policies.RolesFor[Policies.PromptReader].Any(Tenant.User.IsInRole))
        {
            _promptVersions = await Prompts.VersionsAsync(prompt, _cts.Token);
        }

        if (Replayer.IsAvailable && RendererInfo.IsInteractive)
        {
            try
            {
                _models = await Replayer.ModelsAsync(Detail.Call.TenantId, _cts.Token);
            }
            catch (GatewayException ex)
            {
                _error = ex.Message;
            }
        }
    }

    private async Task ReplayAsync()
    {
        _running = true;
        _error = null;
        _result = null;
        _started = null;
        _replayedVersion = null;
        _diff = [];
        _text.Clear();
        await using var batcher = new RenderBatcher(Time, RenderInterval, () => InvokeAsync(StateHasChanged));
        try
        {
            var version = _promptVersions.FirstOrDefault(v => v.Id == _promptVersionId);
            await foreach (var e in Replayer.ReplayAsync(Detail, _model, _promptVersionId, _cts.Token))
            {
                switch (e)
                {
                    case StreamStarted s:
                        _started = s;
                        break;
                    case TextDelta d:
                        _text.Append(d.Text);
                        batcher.MarkDirty();
                        break;
                    case StreamCompleted c:
                        _result = c.Result;
                        _replayedVersion = version?.Number;
                        if (_text.Length == 0)
                        {
                            _text.Append(c.Result.Text);
                        }

                        _diff = WordDiff.Inline(Detail.Payload.AnswerText, _text.ToString());
                        break;
                    case StreamFailed f:
                        _error = $"{f.Error.Code}: {f.Error.Message}";
                        break;
                }
            }
        }
        catch (GatewayException ex)
        {
            _error = $"{ex.Error.Code}: {ex.Error.Message}";
        }
        catch (InvalidOperationException ex)
        {
            _error = ex.Message;
        }
        catch (OperationCanceledException)
        {
            _error = "Replay stopped.";
        }
        finally
        {
            _running = false;
        }
    }

    private void Cancel()
    {
        _cts.Cancel();
        _cts.Dispose();
        _cts = new CancellationTokenSource();
    }

    private async Task SaveExampleAsync()
    {
        var (id, error) = await Examples.SaveAsync(Detail, _expected ?? "", _notes, _cts.Token);
        _saveMessage = error ?? $"Saved as eval example {id}.";
    }

    private static string Shorten(string value) => value.Length <= 60 ? value : value[..57] + "…";

    private static string Signed(int value) => value > 0 ? "+" + value.ToString("N0", CultureInfo.CurrentCulture) : value.ToString("N0", CultureInfo.CurrentCulture);

    public void Dispose()
    {
        _cts.Cancel();
        _cts.Dispose();
    }
}
