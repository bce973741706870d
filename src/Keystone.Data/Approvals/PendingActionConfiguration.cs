using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Approvals;

internal sealed class PendingActionConfiguration : IEntityTypeConfiguration<PendingAction>
{
    public void Configure(EntityTypeBuilder<PendingAction> b)
    {
        b.ToTable("pending_actions");
        b.Property(x => x.Tool).HasMaxLength(PendingAction.ToolMaxLength);
        b.Property(x => x.InputJson).HasMaxLength(PendingAction.InputMaxLength);
        b.Property(x => x.EditedInputJson).HasMaxLength(PendingAction.InputMaxLength);
        b.Property(x => x.Rationale).HasMaxLength(PendingAction.RationaleMaxLength);
        b.Property(x => x.Summary).HasMaxLength(PendingAction.SummaryMaxLength);
        b.Property(x => x.OnBehalfOfUserId).HasMaxLength(PendingAction.UserIdMaxLength);
        b.Property(x => x.ApproverRole).HasMaxLength(32);
        b.Property(x => x.SourceKind).HasMaxLength(PendingAction.SourceKindMaxLength);
        b.Property(x => x.SourceStepKey).HasMaxLength(PendingAction.SourceStepKeyMaxLength);
        b.Property(x => x.Status).HasMaxLength(16);
        b.Property(x => x.DecidedById).HasMaxLength(PendingAction.UserIdMaxLength);
        b.Property(x => x.DecidedByName).HasMaxLength(256);
        b.Property(x => x.Comment).HasMaxLength(PendingAction.CommentMaxLength);
        b.Property(x => x.HandlerError).HasMaxLength(PendingAction.HandlerErrorMaxLength);
        // A repeated request for the same step finds the row instead of adding a second one.
        b.HasIndex(x => new { x.TenantId, x.SourceKind, x.SourceId, x.SourceStepKey }).IsUnique();
        // The inbox (a tenant's pending, newest first; its history by decision time) and the expiry job.
        b.HasIndex(x => new { x.TenantId, x.Status, x.CreatedUtc });
        b.HasIndex(x => new { x.TenantId, x.DecidedUtc });
        b.HasIndex(x => new { x.Status, x.ExpiresUtc });
        // Decisions still to be handed to their requester (the job's retry).
        b.HasIndex(x => x.HandledUtc);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
