using Keystone.Web.Platform;
using Keystone.Data.Calls;
using Keystone.Data.Playground;
using Keystone.Gateway;
using Keystone.Web.Components.Shared;
using Microsoft.AspNetCore.Components;
using Microsoft.JSInterop;
using MudBlazor;

namespace Keystone.Web.Features.Playground;

/// <summary>
/// The playground: a conversation streamed through the gateway (feature <c>playground</c>) as the signed-in user in
/// the tenant in scope. Text reaches the browser in render batches of at most one per <see cref="PlaygroundOptions.RenderInterval"/>.
/// </summary>
public sealed partial class PlaygroundPage : IAsyncDisposable
{
    /// <summary>The feature label every playground call carries.</summary>
    public const string Feature = "playground";

    private readonly List<ConversationMessage> _messages = [];
    private readonly List<AnswerStreamer> _streams = [];
    private readonly List<string?> _compareModels = [];
    private readonly Dictionary<Guid, int> _ratings = [];
    private readonly CancellationTokenSource _life = new();
    private IReadOnlyList<ModelInfo> _models = [];
    private IReadOnlyList<ConversationSummary> _conversations = [];
    private Conversation? _conversation;
    private string? _model;
    private double? _temperature;
    private int? _maxTokens;
    private string? _systemPrompt;
    private bool _compare;
    private string _draft = "";
    private string? _error;
    private string? _blocked;
    private bool _blockedByRefusal;
    private bool _blockedByBudget;
    private bool _canManageBudgets;
    private TimeZoneInfo? _zone;
    private BudgetNotice? _budgetNotice;
    private CancellationTokenSource? _streamCts;
    private RenderBatcher? _batcher;
    private ElementReference _composer;
    private IJSObjectReference? _module;
    private DotNetObjectReference<PlaygroundPage>? _self;
    private string? _addressNotice;

    /// <summary>
    /// The open conversation, from the address (<c>/playground/{id}</c>), so a reload or a shared link reopens it.
    /// Any text is accepted here and answered in words when it names none of the caller's conversations.
    /// </summary>
    [Parameter] public string? ConversationId { get; set; }

    [Inject] private NavigationManager Nav { get; set; } = default!;

    [Inject] private TenantContext Tenant { get; set; } = default!;

    [Inject] private ConversationService Conversations { get; set; } = default!;

    [Inject] private ILlmGateway Gateway { get; set; } = default!;

    [Inject] private IBudgetService Budgets { get; set; } = default!;

    [Inject] private CallRecords Calls { get; set; } = default!;

    [Inject] private PlaygroundFeedback Feedback { get; set; } = default!;

    [Inject] private TimeProvider Time { get; set; } = default!;

    [Inject] private IJSRuntime JS { get; set; } = default!;

    [Inject] private ISnackbar Snackbar { get; set; } = default!;

    [Inject] private PlaygroundOptions Options { get; set; } = default!;

    [Inject] private ILogger<PlaygroundPage> Log { get; set; } = default!;

    [Inject] private Microsoft.AspNetCore.Authorization.IAuthorizationService Authorization { get; set; } = default!;

    /// <summary>Render batches sent while streaming since the page opened (benchmarks read it).</summary>
    internal long RenderBatches { get; private set; }

    private bool IsStreaming => _streams.Count > 0;

    protected override async Task OnInitializedAsync()
    {
        if (Tenant.TenantId is not { } tenantId)
        {
            return;
        }

        try
        {
            _models = [.. (await Gateway.ModelsAsync(tenantId, _life.Token)).Where(m => !m.IsEmbedding)];
        }
        catch (GatewayException ex)
        {
            _error = PlainWords.For(ex.Error);
        }

        _model = _models.Count > 0 ? _models[0].Id : null;
        // Tenant admins get a link to the budgets page under a refusal; members are told to ask one.
        _canManageBudgets = (await Authorization.AuthorizeAsync(Tenant.User, null, Keystone.Web.Hosting.Policies.TenantAdmin)).Succeeded;
        _conversations = await Conversations.ListAsync(_life.Token);
        await RefreshBudgetAsync();
    }

    /// <summary>
    /// Opens the conversation the address names (first render, reload, back and forward). Only the caller's own
    /// conversations in the tenant in scope open (ConversationService filters by user, the context by tenant); any
    /// other id, and text that is no id, get the same plain notice and an empty playground, never another's messages.
    /// </summary>
    protected override async Task OnParametersSetAsync()
    {
        if (Tenant.TenantId is null || IsStreaming)
        {
            return;
        }

        if (await OpenRunFromAddressAsync())
        {
            return;
        }

        _runId = null;
        _addressNotice = null;
        if (ConversationId is null)
        {
            if (_conversation is not null)
            {
                NewConversation();
            }

            return;
        }

        if (!Guid.TryParse(ConversationId, out var id))
        {
            _addressNotice = "This address does not name a conversation. Pick one of yours on the left, or start a new one.";
            NewConversation();
            return;
        }

        if (_conversation?.Id != id && !await OpenAsync(id))
        {
            _addressNotice = "No conversation of yours has this address: it was deleted, or it belongs to someone else. Pick one of yours on the left, or start a new one.";
            NewConversation();
        }
    }

    /// <summary>Puts the open conversation in the address (or takes it out), so a reload keeps it.</summary>
    private void ShowInAddress(Guid? id)
    {
        var path = id is { } open ? $"playground/{open}" : "playground";
        if (!string.Equals(Nav.ToBaseRelativePath(Nav.Uri).Split('?')[0], path, StringComparison.OrdinalIgnoreCase))
        {
            Nav.NavigateTo(path);
        }
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (firstRender && Tenant.TenantId is not null)
        {
            _self = DotNetObjectReference.Create(this);
            try
            {
                _module = await JS.InvokeAsync<IJSObjectReference>("import", _life.Token, "./Features/Playground/PlaygroundPage.razor.js");
                await _module.InvokeVoidAsync("attach", _life.Token, _composer, _self);
                _zone = ZoneOf(await _module.InvokeAsync<string?>("timeZone", _life.Token));
                if (_zone is not null && _budgetNotice is not null)
                {
                    // The notice was written in UTC before the browser's zone was known.
                    await RefreshBudgetAsync();
                    StateHasChanged();
                }
            }
            catch (JSDisconnectedException)
            {
                // The circuit went away while the page was starting.
            }
        }
    }

    /// <summary>Enter in the composer (the browser passes its current text, so no keystroke is lost).</summary>
    /// <remarks>JS calls arrive outside the renderer's dispatcher: everything runs through <c>InvokeAsync</c>.</remarks>
    [JSInvokable]
    public Task SendFromKeyboard(string text) => InvokeAsync(async () =>
    {
        if (IsStreaming || AgentRunning || _blocked is not null)
        {
            return;
        }

        _draft = text;
        await SendAsync();
    });

    /// <summary>Esc anywhere on the page.</summary>
    [JSInvokable]
    public Task StopFromKeyboard() => InvokeAsync(Stop);

    private static string ModelLabel(ModelInfo m) => m.Kind == "alias" && m.Targets.Count > 0
        ? $"{m.Id}  →  {string.Join(", ", m.Targets)}"
        : m.Id;

    private bool IsStreamingMessage(ConversationMessage m) => _streams.Any(s => s.IsStreaming && ReferenceEquals(s.Message, m));

    private void SetModel(string model) => _model = model;

    private void SetCompare(bool on)
    {
        _compare = on;
        if (on && _compareModels.Count == 0)
        {
            _compareModels.Add(_models.Select(m => m.Id).FirstOrDefault(id => id != _model));
        }
    }

    private void AddCompareModel() => _compareModels.Add(_models.Select(m => m.Id).FirstOrDefault(id => id != _model && !_compareModels.Contains(id)));

    private IReadOnlyList<string> ModelsForTurn()
    {
        var models = new List<string>();
        if (_model is not null)
        {
            models.Add(_model);
        }

        if (_compare)
        {
            models.AddRange(_compareModels.OfType<string>());
        }

        return [.. models.Distinct(StringComparer.Ordinal).Take(3)];
    }

    private ConversationSettings Settings() => new(_model ?? "", _systemPrompt, _temperature, _maxTokens);

    private void StartNewConversation()
    {
        NewConversation();
        _addressNotice = null;
        ShowInAddress(null);
    }

    private void NewConversation()
    {
        _conversation = null;
        _messages.Clear();
        _ratings.Clear();
        _error = null;
    }

    private int? RatingOf(ConversationMessage answer) => answer.TraceId is { } id && _ratings.TryGetValue(id, out var score) ? score : null;

    /// <summary>A thumb on an answer: lands on the answer's trace as feedback; the same thumb again takes it back.</summary>
    private async Task RateAsync(ConversationMessage answer, int score)
    {
        if (_conversation is null || answer.TraceId is not { } traceId)
        {
            return;
        }

        int? rating = RatingOf(answer) == score ? null : score;
        if (!await Feedback.RateAsync(_conversation.Id, traceId, rating, _life.Token))
        {
            Snackbar.Add("This answer is not saved yet; try again in a moment.", Severity.Warning);
            return;
        }

        if (rating is { } r)
        {
            _ratings[traceId] = r;
        }
        else
        {
            _ratings.Remove(traceId);
        }
    }

    /// <summary>A conversation picked in the list: opened, and put in the address.</summary>
    private async Task PickAsync(Guid id)
    {
        if (await OpenAsync(id))
        {
            _addressNotice = null;
            ShowInAddress(id);
        }
    }

    /// <summary>Opens one of the caller's conversations; false when it is not theirs or no longer exists.</summary>
    private async Task<bool> OpenAsync(Guid id)
    {
        var conversation = await Conversations.GetAsync(id, _life.Token);
        if (conversation is null)
        {
            _conversations = await Conversations.ListAsync(_life.Token);
            return false;
        }

        _conversation = conversation;
        _messages.Clear();
        _messages.AddRange(conversation.Messages);
        _ratings.Clear();
        foreach (var (traceId, score) in await Feedback.RatingsAsync([.. conversation.Messages.Select(m => m.TraceId).OfType<Guid>()], _life.Token))
        {
            _ratings[traceId] = score;
        }

        _model = _models.Any(m => m.Id == conversation.Model) ? conversation.Model : _model;
        _systemPrompt = conversation.SystemPrompt;
        _temperature = conversation.Temperature;
        _maxTokens = conversation.MaxTokens;
        _error = null;
        return true;
    }

    private async Task RenameAsync((Guid Id, string Title) rename)
    {
        await Conversations.RenameAsync(rename.Id, rename.Title, _life.Token);
        _conversations = await Conversations.ListAsync(_life.Token);
    }

    private async Task DeleteAsync(Guid id)
    {
        await Conversations.DeleteAsync(id, _life.Token);
        if (_conversation?.Id == id)
        {
            StartNewConversation();
        }

        _conversations = await Conversations.ListAsync(_life.Token);
    }

    private async Task SendAsync()
    {
        if (_agentMode)
        {
            await StartAgentRunAsync();
            return;
        }

        var text = _draft.Trim();
        if (text.Length == 0 || _model is null || IsStreaming || _blocked is not null)
        {
            return;
        }

        _error = null;
        // The turn belongs to the conversation it was sent in, held here: a parameters pass during the awaits below (the
        // address changing under it) may reset the page's open conversation.
        var conversation = _conversation;
        if (conversation is null)
        {
            conversation = _conversation = await Conversations.CreateAsync(text, Settings(), _life.Token);
            ShowInAddress(conversation.Id);
        }
        else
        {
            await Conversations.SaveSettingsAsync(conversation.Id, Settings(), _life.Token);
        }

        var sequence = _messages.Count == 0 ? 0 : _messages[^1].Sequence + 1;
        var user = new ConversationMessage { Id = Guid.CreateVersion7(), Role = "user", Content = text, Sequence = sequence };
        _messages.Add(user);
        await Conversations.SaveMessagesAsync(conversation.Id, [user], _life.Token);
        _draft = "";
        var answered = await StreamTurnAsync(sequence + 1, ModelsForTurn(), refused: () =>
        {
            // Refused before any answer: the message goes back to the composer, unsent (before the refusal renders).
            _messages.Remove(user);
            _draft = text;
        });
        if (!answered)
        {
            await Conversations.TruncateAsync(conversation.Id, sequence, _life.Token);
        }

        _conversations = await Conversations.ListAsync(_life.Token);
        StateHasChanged();
    }

    private async Task RegenerateAsync()
    {
        if (_conversation is null || IsStreaming || _messages.Count == 0 || _messages[^1].Role != "assistant")
        {
            return;
        }

        var sequence = _messages[^1].Sequence;
        var models = _messages.Where(m => m.Sequence == sequence).OrderBy(m => m.Variant)
            .Select(m => m.RequestedModel).OfType<string>().ToList();
        _messages.RemoveAll(m => m.Sequence >= sequence);
        await Conversations.TruncateAsync(_conversation.Id, sequence, _life.Token);
        await StreamTurnAsync(sequence, models.Count > 0 ? models : ModelsForTurn());
    }

    private async Task ResendAsync(ConversationMessage original, string text)
    {
        if (_conversation is not { } conversation || IsStreaming || text.Length == 0)
        {
            return;
        }

        var sequence = original.Sequence;
        _messages.RemoveAll(m => m.Sequence >= sequence);
        await Conversations.TruncateAsync(conversation.Id, sequence, _life.Token);
        var user = new ConversationMessage { Id = Guid.CreateVersion7(), Role = "user", Content = text, Sequence = sequence };
        _messages.Add(user);
        await Conversations.SaveMessagesAsync(conversation.Id, [user], _life.Token);
        await StreamTurnAsync(sequence + 1, ModelsForTurn());
    }

    private async Task Stop()
    {
        if (AgentRunning)
        {
            await CancelAgentRunAsync();
            return;
        }

        _streamCts?.Cancel();
    }

    /// <summary>After a refusal's wait, or when someone raised the cap: look at the budget again.</summary>
    private async Task CheckAgainAsync()
    {
        _blockedByRefusal = false;
        _blockedByBudget = false;
        _blocked = null;
        await RefreshBudgetAsync();
        StateHasChanged();
    }

    /// <summary>
    /// Streams one turn to one model (or two or three, side by side). False when every model refused before
    /// answering (budget, rate limit, no provider): nothing was added then, and <paramref name="refused"/> ran.
    /// </summary>
    private async Task<bool> StreamTurnAsync(int sequence, IReadOnlyList<string> models, Action? refused = null)
    {
        var tenantId = Tenant.TenantId!.Value;
        var history = History(sequence);
        var context = new CallContext { TenantId = tenantId, UserId = Tenant.UserId, Feature = Feature };
        history = await WithKnowledgeAsync(history, sequence, context);
        var answers = models.Select((model, i) => new ConversationMessage
        {
            Id = Guid.CreateVersion7(),
            Role = "assistant",
            Sequence = sequence,
            Variant = i,
            RequestedModel = model,
        }).ToList();

        _streamCts = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
        _batcher = new RenderBatcher(Time, Options.RenderInterval, () => InvokeAsync(RenderBatch));
        foreach (var answer in answers)
        {
            _streams.Add(new AnswerStreamer(Gateway, Time, answer));
        }

        _messages.AddRange(answers);
        StateHasChanged();

        var runs = answers.Select((answer, i) => _streams[i].RunAsync(new ChatRequest
        {
            Model = answer.RequestedModel!,
            Messages = history,
            Temperature = _temperature,
            MaxTokens = _maxTokens,
        }, context, _batcher.MarkDirty, _streamCts.Token)).ToList();

        var refusals = new List<GatewayError>();
        for (var i = 0; i < runs.Count; i++)
        {
            try
            {
                await runs[i];
            }
            catch (GatewayException ex)
            {
                refusals.Add(ex.Error);
                answers[i].State = AnswerState.Failed;
                answers[i].Error = Truncate(PlainWords.For(ex.Error));
                if (ex.Outcome is { } outcome)
                {
                    answers[i].CallId = outcome.CallId;
                    answers[i].TraceId = outcome.TraceId;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.LogError(ex, "Playground stream failed for tenant {TenantId} on {Model}", tenantId, answers[i].RequestedModel);
                answers[i].State = AnswerState.Failed;
                answers[i].Error = "Something went wrong while streaming this answer. The error is logged; try again.";
            }
        }

        await _batcher.DisposeAsync();
        RenderBatches += _batcher.Batches;
        _batcher = null;
        _streams.Clear();
        _streamCts.Dispose();
        _streamCts = null;
        // Show how the turn ended (stopped marker, metadata) before saving it.
        StateHasChanged();

        var allRefused = refusals.Count == answers.Count;
        if (allRefused)
        {
            _messages.RemoveAll(answers.Contains);
            refused?.Invoke();
            ShowRefusal(refusals[0]);
        }
        else if (_conversation is not null)
        {
            await Conversations.SaveMessagesAsync(_conversation.Id, answers, _life.Token);
            foreach (var stopped in answers.Where(a => a.State == AnswerState.Stopped && a.CallId is not null && a.CostStatus != CostStatus.Exact))
            {
                _ = ReadBackCostAsync(stopped);
            }
        }

        await RefreshBudgetAsync();
        StateHasChanged();
        return !allRefused;
    }

    private void RenderBatch()
    {
        foreach (var s in _streams)
        {
            s.Sync();
        }

        StateHasChanged();
    }

    private List<ChatMessage> History(int beforeSequence)
    {
        var history = new List<ChatMessage>();
        if (!string.IsNullOrWhiteSpace(_systemPrompt))
        {
            history.Add(new ChatMessage("system", _systemPrompt));
        }

        // Compared turns continue with their first column; failed answers with no text are not part of the story.
        history.AddRange(_messages
            .Where(m => m.Sequence < beforeSequence && m.Variant == 0 && m.Content.Length > 0)
            .OrderBy(m => m.Sequence)
            .Select(m => new ChatMessage(m.Role, m.Content)));
        return history;
    }

    /// <summary>The browser's IANA zone (this runtime reads IANA ids on every OS), or null to keep UTC.</summary>
    private static TimeZoneInfo? ZoneOf(string? id)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            return null;
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return null;
        }
    }

    private void ShowRefusal(GatewayError error)
    {
        if (error.Code is GatewayErrorCodes.BudgetExceeded or GatewayErrorCodes.RateLimitExceeded)
        {
            // The sentence names the cap (or limit), the spend and the reset in the reader's time; sending waits for it.
            _blocked = PlainWords.For(error, _zone, Time.GetUtcNow().UtcDateTime);
            _blockedByRefusal = true;
            _blockedByBudget = error.Code == GatewayErrorCodes.BudgetExceeded;
            _ = UnblockAfterAsync(error.RetryAfter ?? TimeSpan.FromSeconds(10));
        }
        else
        {
            _error = PlainWords.For(error);
        }
    }

    private async Task UnblockAfterAsync(TimeSpan wait)
    {
        try
        {
            await Task.Delay(wait, Time, _life.Token);
            await InvokeAsync(CheckAgainAsync);
        }
        catch (OperationCanceledException)
        {
            // The page closed first.
        }
    }

    private async Task RefreshBudgetAsync()
    {
        if (Tenant.TenantId is not { } tenantId)
        {
            return;
        }

        var budget = await Budgets.GetAsync(tenantId, _life.Token);
        _budgetNotice = BudgetNotice.From(budget, Tenant.UserId, Feature, _zone, Time.GetUtcNow().UtcDateTime);
        if (_budgetNotice is { AtCap: true } atCap)
        {
            _blocked = atCap.Text;
        }
        else if (!_blockedByRefusal)
        {
            _blocked = null;
        }
    }

    // A stream stopped by cancellation ends without the gateway's outcome; the recorder writes the call
    // (status cancelled, estimated cost) off the request path, so read it back once it lands.
    // REVIEW: polls up to 5 s; replace with the outcome on the stream if the gateway ever yields one for cancelled calls.
    private async Task ReadBackCostAsync(ConversationMessage answer)
    {
        try
        {
            for (var attempt = 0; attempt < 20; attempt++)
            {
                var call = await Calls.FindAsync(answer.CallId!.Value, _life.Token);
                if (call is not null)
                {
                    answer.InputTokens = call.InputTokens;
                    answer.OutputTokens = call.OutputTokens;
                    answer.CachedInputTokens = call.CachedInputTokens;
                    answer.CostMicros = call.CostMicros;
                    answer.CostStatus = call.CostStatus;
                    answer.LatencyMs = call.LatencyMs;
                    if (_conversation is not null)
                    {
                        await Conversations.SaveMessagesAsync(_conversation.Id, [answer], _life.Token);
                    }

                    await InvokeAsync(StateHasChanged);
                    return;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250), Time, _life.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The page closed first; the trace still has the cost.
        }
    }

    private async Task CopyAsync(ConversationMessage message)
    {
        var copied = _module is not null && await _module.InvokeAsync<bool>("copyText", _life.Token, message.Content);
        Snackbar.Add(copied ? "Copied to the clipboard." : "The browser did not allow copying.", copied ? Severity.Success : Severity.Warning);
    }

    private static string Truncate(string text) => text.Length <= 1000 ? text : text[..1000];

    public async ValueTask DisposeAsync()
    {
        // Closing the page (or losing the circuit) cancels any stream: the gateway aborts the upstream call.
        await _life.CancelAsync();
        if (_batcher is not null)
        {
            await _batcher.DisposeAsync();
        }

        if (_module is not null)
        {
            try
            {
                await _module.InvokeVoidAsync("detach", _composer);
                await _module.DisposeAsync();
            }
            catch (JSDisconnectedException)
            {
                // The browser is gone; nothing to detach.
            }
        }

        _self?.Dispose();
        _life.Dispose();
    }
}
