using Keystone.Web.Platform;
using System.Globalization;
using System.Text;
using Keystone.Web.Components.Shared;
using Keystone.Web.Features.Usage;
using Keystone.Web.Hosting;

namespace Keystone.Web.Features.Margin;

/// <summary><c>GET /margin/export.csv?from=yyyy-MM-dd&amp;to=yyyy-MM-dd</c>: the margin table as CSV, for platform admins.</summary>
internal static class MarginExportEndpoint
{
    public static IEndpointRouteBuilder MapMarginExport(this IEndpointRouteBuilder app)
    {
        app.MapGet("/margin/export.csv", async (string? from, string? to, MarginQueries queries, TimeProvider clock, CancellationToken ct) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var range = ReportRange.MonthToDate(now);
            if (from is not null || to is not null)
            {
                if (!TryDate(from, out var f) || !TryDate(to, out var t) || t < f || (t - f).TotalDays > 731)
                {
                    return Results.Problem(statusCode: 400, title: "invalid_range",
                        detail: $"from and to must be dates (yyyy-MM-dd) {ReportingDates.Window}, from on or before to, at most two years apart.");
                }

                range = ReportRange.FromPicker(f, t);
            }

            var rows = await queries.TenantsAsync(range, ct);
            var csv = new StringBuilder("tenant_id,tenant,plan,from,to,revenue_usd,cost_usd,margin_usd,margin_percent,cost_to_revenue_percent,flagged,top_feature\n");
            foreach (var r in rows)
            {
                csv.Append(CultureInfo.InvariantCulture, $"{r.TenantId},{Field(r.Tenant)},{Field(r.Plan)},{range.FromUtc:yyyy-MM-dd},{range.ToUtc.AddDays(-1):yyyy-MM-dd},")
                    .Append(CultureInfo.InvariantCulture, $"{Usd(r.RevenueMicros)},{Usd(r.CostMicros)},{Usd(r.MarginMicros)},")
                    .Append(CultureInfo.InvariantCulture, $"{Pct(r.MarginRatio)},{Pct(r.CostRatio)},{(r.Flagged ? "yes" : "no")},{Field(r.TopFeature ?? "")}\n");
            }

            return Results.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv", $"margin-{range.FromUtc:yyyyMMdd}-{range.ToUtc.AddDays(-1):yyyyMMdd}.csv");
        }).RequireAuthorization(Policies.PlatformAdmin);
        return app;
    }

    private static bool TryDate(string? text, out DateTime date) =>
        DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out date)
        && ReportingDates.Contains(DateTime.SpecifyKind(date, DateTimeKind.Utc));

    // Plain numbers for spreadsheets (no "$" or thousands separators), exact to the micro-dollar.
    private static string Usd(long micros) => Money.Dollars(micros).ToString("0.00####", CultureInfo.InvariantCulture);

    private static string Pct(double? ratio) => ratio is { } r && double.IsFinite(r) ? Math.Round(r * 100, 2).ToString(CultureInfo.InvariantCulture) : "";

    // Quotes fields that need it, and defuses spreadsheet formulas in names (=, +, -, @).
    private static string Field(string value)
    {
        if (value.Length > 0 && "=+-@".Contains(value[0], StringComparison.Ordinal))
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
