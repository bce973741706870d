using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Agents;

internal sealed class AgentConfiguration : IEntityTypeConfiguration<Agent>
{
    public void Configure(EntityTypeBuilder<Agent> b)
    {
        b.ToTable("agents");
        b.Property(a => a.Name).HasMaxLength(100);
        b.Property(a => a.ModelAlias).HasMaxLength(128);
        b.Property(a => a.PromptName).HasMaxLength(64);
        b.Property(a => a.Tools).HasMaxLength(2000);
        b.Property(a => a.CreatedByUserId).HasMaxLength(64);
        b.HasIndex(a => new { a.TenantId, a.Name }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(a => a.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class AgentToolSettingConfiguration : IEntityTypeConfiguration<AgentToolSetting>
{
    public void Configure(EntityTypeBuilder<AgentToolSetting> b)
    {
        b.ToTable("agent_tool_settings");
        b.HasKey(s => new { s.TenantId, s.Tool });
        b.Property(s => s.Tool).HasMaxLength(64);
        b.Property(s => s.UpdatedByUserId).HasMaxLength(64);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(s => s.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class AgentRunConfiguration : IEntityTypeConfiguration<AgentRun>
{
    public void Configure(EntityTypeBuilder<AgentRun> b)
    {
        b.ToTable("agent_runs");
        b.Property(r => r.AgentName).HasMaxLength(100);
        b.Property(r => r.Model).HasMaxLength(128);
        b.Property(r => r.SystemPrompt).HasMaxLength(32_000);
        b.Property(r => r.PromptName).HasMaxLength(64);
        b.Property(r => r.Tools).HasMaxLength(2000);
        b.Property(r => r.Permissions).HasMaxLength(500);
        b.Property(r => r.Input).HasMaxLength(32_000);
        b.Property(r => r.State).HasConversion<string>().HasMaxLength(24);
        b.Property(r => r.OnBehalfOf).HasMaxLength(128);
        b.Property(r => r.StartedByUserId).HasMaxLength(64);
        b.Property(r => r.Output).HasMaxLength(64_000);
        b.Property(r => r.ErrorCode).HasMaxLength(64);
        b.Property(r => r.Error).HasMaxLength(2000);
        // The console's list (newest first), the janitor's scan of unfinished runs, the day budget's sum per agent.
        b.HasIndex(r => new { r.TenantId, r.CreatedUtc });
        b.HasIndex(r => new { r.State, r.HeartbeatUtc });
        b.HasIndex(r => new { r.TenantId, r.AgentId, r.CreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(r => r.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class AgentRunStepConfiguration : IEntityTypeConfiguration<AgentRunStep>
{
    public void Configure(EntityTypeBuilder<AgentRunStep> b)
    {
        b.ToTable("agent_run_steps");
        b.Property(s => s.Kind).HasConversion<string>().HasMaxLength(16);
        b.Property(s => s.State).HasConversion<string>().HasMaxLength(24);
        b.Property(s => s.Provider).HasMaxLength(64);
        b.Property(s => s.Model).HasMaxLength(128);
        b.Property(s => s.Text).HasMaxLength(64_000);
        b.Property(s => s.ToolCallsJson).HasMaxLength(64_000);
        b.Property(s => s.Tool).HasMaxLength(64);
        b.Property(s => s.ToolCallId).HasMaxLength(128);
        b.Property(s => s.InputJson).HasMaxLength(64_000);
        b.Property(s => s.OutputJson).HasMaxLength(64_000);
        b.Property(s => s.IdempotencyKey).HasMaxLength(128);
        b.Property(s => s.ErrorCode).HasMaxLength(64);
        b.Property(s => s.Error).HasMaxLength(2000);
        // One step per position: two workers that both thought they held the run cannot both write step n.
        b.HasIndex(s => new { s.RunId, s.Sequence }).IsUnique();
        b.HasIndex(s => s.TenantId);
        b.HasOne<AgentRun>().WithMany().HasForeignKey(s => s.RunId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class AgentRunEventConfiguration : IEntityTypeConfiguration<AgentRunEvent>
{
    public void Configure(EntityTypeBuilder<AgentRunEvent> b)
    {
        b.ToTable("agent_run_events");
        b.Property(e => e.Type).HasMaxLength(32);
        b.Property(e => e.DataJson).HasMaxLength(64_000);
        b.HasIndex(e => new { e.RunId, e.Id });
        b.HasIndex(e => e.TenantId);
        b.HasOne<AgentRun>().WithMany().HasForeignKey(e => e.RunId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class MailSinkMessageConfiguration : IEntityTypeConfiguration<MailSinkMessage>
{
    public void Configure(EntityTypeBuilder<MailSinkMessage> b)
    {
        b.ToTable("agent_mail_sink");
        b.Property(m => m.IdempotencyKey).HasMaxLength(128);
        b.Property(m => m.To).HasMaxLength(320);
        b.Property(m => m.Subject).HasMaxLength(300);
        b.Property(m => m.Body).HasMaxLength(20_000);
        b.HasIndex(m => new { m.TenantId, m.IdempotencyKey }).IsUnique();
        b.HasIndex(m => new { m.TenantId, m.CreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(m => m.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class SupportTicketConfiguration : IEntityTypeConfiguration<SupportTicket>
{
    public void Configure(EntityTypeBuilder<SupportTicket> b)
    {
        b.ToTable("agent_support_tickets");
        b.Property(t => t.IdempotencyKey).HasMaxLength(128);
        b.Property(t => t.Subject).HasMaxLength(300);
        b.Property(t => t.Body).HasMaxLength(20_000);
        b.Property(t => t.Priority).HasMaxLength(16);
        b.Property(t => t.UndoneBy).HasMaxLength(128);
        b.HasIndex(t => new { t.TenantId, t.IdempotencyKey }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(t => t.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class CustomerCreditConfiguration : IEntityTypeConfiguration<CustomerCredit>
{
    public void Configure(EntityTypeBuilder<CustomerCredit> b)
    {
        b.ToTable("agent_customer_credits");
        b.Property(c => c.IdempotencyKey).HasMaxLength(128);
        b.Property(c => c.Customer).HasMaxLength(200);
        b.Property(c => c.Reason).HasMaxLength(2000);
        b.HasIndex(c => new { c.TenantId, c.IdempotencyKey }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
