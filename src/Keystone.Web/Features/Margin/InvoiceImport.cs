using System.Globalization;
using System.Text;
using Keystone.Data;
using Keystone.Data.Revenue;
using Keystone.Web.Components.Shared;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Margin;

/// <summary>A problem with one row of an invoice file (row 1 is the header).</summary>
internal sealed record ImportError(int Row, string Message);

/// <summary>What an import did: lines stored, or the errors that stopped it (nothing is stored then).</summary>
internal sealed record ImportResult(int Imported, int ReplacedLines, IReadOnlyList<ImportError> Errors)
{
    public bool Succeeded => Errors.Count == 0;
}

/// <summary>
/// Imports invoice lines from a payments provider's CSV export (<c>customer,period,amount,currency</c>).
/// All or nothing: every row is checked first and any error stops the import with one message per bad row.
/// The customer is matched by tenant slug, name or id; the period is a month (<c>2026-11</c> or a date in
/// it); amounts are dollars in USD. Importing a tenant and month again replaces that month's earlier lines,
/// so re-importing an export never double counts.
/// </summary>
internal sealed class InvoiceImport(KeystoneDbFactory dbFactory, TimeProvider clock)
{
    /// <summary>The largest file accepted.</summary>
    public const long MaxBytes = 1024 * 1024;

    /// <summary>The most rows accepted in one file.</summary>
    public const int MaxRows = 10_000;

    private static readonly string[] Columns = ["customer", "period", "amount", "currency"];

    private static readonly string[] MonthFormats = ["yyyy-MM", "yyyy-MM-dd", "yyyy/MM", "yyyy/MM/dd", "MM/yyyy"];

    public async Task<ImportResult> ImportAsync(Stream csv, CancellationToken ct)
    {
        string text;
        using (var reader = new StreamReader(csv, Encoding.UTF8, detectEncodingFromByteOrderMarks: true))
        {
            var buffer = new char[MaxBytes + 1];
            var read = await reader.ReadBlockAsync(buffer.AsMemory(), ct);
            if (read > MaxBytes)
            {
                return Fail(0, $"The file is larger than {MaxBytes / 1024} KB.");
            }

            text = new string(buffer, 0, read);
        }

        var rows = CsvRows(text).ToList();
        if (rows.Count == 0)
        {
            return Fail(1, "The file is empty; expected a header row: customer,period,amount,currency.");
        }

        var header = rows[0].Fields.Select(h => h.Trim().ToLowerInvariant()).ToList();
        var at = Columns.ToDictionary(c => c, c => header.IndexOf(c));
        var missing = at.Where(kv => kv.Value < 0).Select(kv => kv.Key).ToList();
        if (missing.Count > 0)
        {
            return Fail(1, $"Missing column(s): {string.Join(", ", missing)}. Expected: customer,period,amount,currency.");
        }

        if (rows.Count - 1 > MaxRows)
        {
            return Fail(MaxRows + 2, $"Too many rows: at most {MaxRows} per file.");
        }

        await using var db = dbFactory.ForSystem();
        var tenants = await db.Tenants.AsNoTracking().Select(t => new { t.Id, t.Slug, t.Name }).ToListAsync(ct);
        var errors = new List<ImportError>();
        var lines = new List<InvoiceLine>();
        var importId = Guid.NewGuid();
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var row in rows.Skip(1))
        {
            if (row.Fields.All(string.IsNullOrWhiteSpace))
            {
                continue;
            }

            string Field(string name) => at[name] < row.Fields.Count ? row.Fields[at[name]].Trim() : "";
            var rowErrors = new List<string>();

            var customer = Field("customer");
            var tenant = tenants.FirstOrDefault(t => string.Equals(t.Slug, customer, StringComparison.OrdinalIgnoreCase))
                ?? tenants.FirstOrDefault(t => string.Equals(t.Name, customer, StringComparison.OrdinalIgnoreCase))
                ?? (Guid.TryParse(customer, out var id) ? tenants.FirstOrDefault(t => t.Id == id) : null);
            if (customer.Length == 0)
            {
                rowErrors.Add("customer is empty");
            }
            else if (tenant is null)
            {
                rowErrors.Add($"customer '{Clip(customer)}' matches no tenant (use its slug, name or id)");
            }

            var periodText = Field("period");
            DateTime? period = DateTime.TryParseExact(periodText, MonthFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var p)
                ? new DateTime(p.Year, p.Month, 1, 0, 0, 0, DateTimeKind.Utc)
                : null;
            if (period is null)
            {
                rowErrors.Add($"period '{Clip(periodText)}' is not a month (2026-11 or 2026-11-01)");
            }

            var amountText = Field("amount");
            if (!Money.TryParseDollars(amountText, out var micros))
            {
                rowErrors.Add($"amount '{Clip(amountText)}' is not a dollar amount (e.g. 99.00)");
            }

            var currency = Field("currency").ToUpperInvariant();
            if (currency != "USD")
            {
                rowErrors.Add(currency.Length == 0 ? "currency is empty" : $"currency '{Clip(currency)}' is not supported (only USD)");
            }

            if (row.Fields.Count != header.Count)
            {
                rowErrors.Add($"has {row.Fields.Count} fields, the header has {header.Count}");
            }

            if (rowErrors.Count > 0)
            {
                errors.Add(new ImportError(row.Number, string.Join("; ", rowErrors)));
                continue;
            }

            lines.Add(new InvoiceLine
            {
                Id = Guid.NewGuid(), TenantId = tenant!.Id, PeriodStartUtc = period!.Value, AmountMicros = micros, Currency = currency,
                Customer = Clip(customer), ImportId = importId, SourceRow = row.Number, ImportedUtc = now,
            });
        }

        if (errors.Count > 0)
        {
            return new ImportResult(0, 0, errors);
        }

        if (lines.Count == 0)
        {
            return Fail(2, "The file has a header but no invoice rows.");
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var replaced = 0;
        foreach (var key in lines.Select(l => (l.TenantId, l.PeriodStartUtc)).Distinct())
        {
            replaced += await db.InvoiceLines.Where(l => l.TenantId == key.TenantId && l.PeriodStartUtc == key.PeriodStartUtc)
                .ExecuteDeleteAsync(ct);
        }

        db.InvoiceLines.AddRange(lines);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return new ImportResult(lines.Count, replaced, []);
    }

    private static ImportResult Fail(int row, string message) => new(0, 0, [new ImportError(row, message)]);

    private static string Clip(string value) => value.Length <= 64 ? value : value[..64] + "…";

    internal sealed record CsvRow(int Number, List<string> Fields);

    /// <summary>RFC 4180 rows: quoted fields may hold commas, quotes ("") and line breaks; numbered from 1 (the header).</summary>
    internal static IEnumerable<CsvRow> CsvRows(string text)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var number = 1;
        var any = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    quoted = true;
                    any = true;
                    break;
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    any = true;
                    break;
                case '\r':
                    break;
                case '\n':
                    fields.Add(field.ToString());
                    field.Clear();
                    yield return new CsvRow(number++, fields);
                    fields = [];
                    any = false;
                    break;
                default:
                    field.Append(c);
                    any = true;
                    break;
            }
        }

        if (any || field.Length > 0)
        {
            fields.Add(field.ToString());
            yield return new CsvRow(number, fields);
        }
    }
}
