using System.ComponentModel.DataAnnotations;

namespace Keystone.Web.Features.Traces;

/// <summary>Trace retention (section <c>Traces</c>); tenants on enterprise contracts may override both.</summary>
internal sealed class TracesOptions : IValidatableObject
{
    public const string SectionName = "Traces";

    /// <summary>Days the unredacted request and answer are kept. Default 7.</summary>
    [Range(0, 3650)]
    public int RawDays { get; set; } = 7;

    /// <summary>Days the redacted payload is kept; the call row (costs) stays for dashboards. Default 30.</summary>
    [Range(1, 3650)]
    public int RedactedDays { get; set; } = 30;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (RawDays > RedactedDays)
        {
            yield return new ValidationResult(
                $"Traces:RawDays ({RawDays}) must not exceed Traces:RedactedDays ({RedactedDays}): the raw payload cannot outlive the redacted one.",
                [nameof(RawDays), nameof(RedactedDays)]);
        }
    }
}
