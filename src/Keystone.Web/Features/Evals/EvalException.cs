namespace Keystone.Web.Features.Evals;

/// <summary>An eval edit or run was refused; <see cref="Code"/> is machine-readable, the message is plain words for the console.</summary>
internal sealed class EvalException(string code, string message) : Exception(message)
{
    /// <summary>No such set, example or prompt (HTTP 404).</summary>
    public const string NotFound = "eval_not_found";

    /// <summary>The input was refused (HTTP 400).</summary>
    public const string Invalid = "invalid_eval";

    /// <summary>Someone else changed or deleted the example first (HTTP 409).</summary>
    public const string Conflict = "eval_conflict";

    /// <summary>The user may not edit evals (HTTP 403).</summary>
    public const string Forbidden = "eval_forbidden";

    /// <summary>The budget caps cannot hold a batch run's worst case (HTTP 429): nothing was submitted.</summary>
    public const string BudgetExceeded = "budget_exceeded";

    /// <summary>The provider did not take a batch run's batch (HTTP 502).</summary>
    public const string Upstream = "upstream_error";

    public string Code { get; } = code;
}
