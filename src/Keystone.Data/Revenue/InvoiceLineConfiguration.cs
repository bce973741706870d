using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Revenue;

internal sealed class InvoiceLineConfiguration : IEntityTypeConfiguration<InvoiceLine>
{
    public void Configure(EntityTypeBuilder<InvoiceLine> b)
    {
        b.ToTable("invoice_lines");
        b.Property(l => l.Currency).HasMaxLength(3);
        b.Property(l => l.Customer).HasMaxLength(128);
        b.HasIndex(l => new { l.TenantId, l.PeriodStartUtc });
        b.HasIndex(l => l.PeriodStartUtc);
    }
}
