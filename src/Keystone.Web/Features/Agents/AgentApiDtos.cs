using Keystone.Data.Agents;

namespace Keystone.Web.Features.Agents;

/// <summary>An error on a run or step: machine-readable code and plain words.</summary>
internal sealed record RunErrorDto(string Code, string? Message);

/// <summary>One step of a run (<c>GET /api/v1/runs/{id}</c>).</summary>
internal sealed record RunStepDto(int Sequence, string Kind, string State, string? Text, IReadOnlyList<RunToolCallDto>? ToolCalls, string? Tool, string? Input,
    string? Output, bool Truncated, int? AutonomyLevel, Guid? ApprovalId, string? Provider, string? Model, int InputTokens, int OutputTokens, long CostMicros,
    RunErrorDto? Error, DateTime CreatedUtc, DateTime? CompletedUtc);

/// <summary>A tool call a model step asked for.</summary>
internal sealed record RunToolCallDto(string Id, string Name, string Arguments);

/// <summary>A run's state and steps.</summary>
internal sealed record RunDto(Guid Id, Guid AgentId, string AgentName, string State, string Model, string Input, string? Output, RunErrorDto? Error,
    long CostMicros, long RunBudgetMicros, int ModelCalls, int MaxSteps, int ToolErrors, int TruncatedOutputs, int Resumes, bool CancelRequested,
    Guid TraceId, Guid? ReplayOfRunId, int? ReplayFromStep, string BilledTo, DateTime CreatedUtc, DateTime? FinishedUtc, IReadOnlyList<RunStepDto> Steps)
{
    public static RunDto From(RunView view)
    {
        var r = view.Run;
        return new RunDto(r.Id, r.AgentId, r.AgentName, AgentRunEvents.StateName(r.State), r.Model, r.Input, r.Output,
            r.ErrorCode is null ? null : new RunErrorDto(r.ErrorCode, r.Error), r.CostMicros, r.RunBudgetMicros, r.ModelCalls, r.MaxSteps, r.ToolErrors,
            r.TruncatedOutputs, r.Resumes, r.CancelRequested, r.TraceId, r.ReplayOfRunId, r.ReplayFromStep,
            AgentRunService.PlatformPaysFor(r) ? "platform" : "tenant", r.CreatedUtc, r.FinishedUtc,
            [.. view.Steps.Select(StepOf)]);
    }

    private static RunStepDto StepOf(AgentRunStep s) => new(s.Sequence, s.Kind == AgentStepKind.Model ? "model" : "tool", AgentRunEvents.StateName(s.State),
        s.Text, s.Kind == AgentStepKind.Model ? [.. AgentRunner.ParseCalls(s.ToolCallsJson).Select(c => new RunToolCallDto(c.Id, c.Name, c.Arguments))] : null,
        s.Tool, s.InputJson, s.OutputJson, s.Truncated, s.AutonomyLevel, s.ApprovalId, s.Provider, s.Model, s.InputTokens, s.OutputTokens, s.CostMicros,
        s.ErrorCode is null ? null : new RunErrorDto(s.ErrorCode, s.Error), s.CreatedUtc, s.CompletedUtc);
}

/// <summary>The 202 answer to a started run.</summary>
internal sealed record RunStartedDto(Guid Id, string State, string Status, string Events);

/// <summary>The 202 answer to a replay: the new run, what it replays and who pays for it.</summary>
internal sealed record RunReplayedDto(Guid Id, string State, Guid ReplayOf, int FromStep, string Model, string BilledTo, string Status, string Events);

/// <summary>The body of <c>POST /api/v1/runs/{id}/replay</c> (documentation).</summary>
internal sealed record ReplayRunRequestDoc(int FromStep, string? Alias);

/// <summary>The body of <c>POST /api/v1/agents/{id}/runs</c> (documentation).</summary>
internal sealed record StartRunRequestDoc(string Input);

/// <summary>An agent as <c>GET /api/v1/agents</c> lists it.</summary>
internal sealed record AgentDto(Guid Id, string Name, string Model, string? Prompt, int? PromptVersion, IReadOnlyList<string> Tools, long RunBudgetMicros,
    long DayBudgetMicros, int MaxSteps);
