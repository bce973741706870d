using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Agents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "agent_customer_credits",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    customer = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    amount_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    reason = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_customer_credits", x => x.id);
                    table.ForeignKey(
                        name: "fk_agent_customer_credits_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agent_mail_sink",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    to = table.Column<string>(type: "TEXT", maxLength: 320, nullable: false),
                    subject = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    body = table.Column<string>(type: "TEXT", maxLength: 20000, nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_mail_sink", x => x.id);
                    table.ForeignKey(
                        name: "fk_agent_mail_sink_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agent_runs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    agent_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    agent_name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    system_prompt = table.Column<string>(type: "TEXT", maxLength: 32000, nullable: true),
                    prompt_version_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    prompt_name = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    tools = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    permissions = table.Column<string>(type: "TEXT", maxLength: 500, nullable: false),
                    input = table.Column<string>(type: "TEXT", maxLength: 32000, nullable: false),
                    state = table.Column<string>(type: "TEXT", maxLength: 24, nullable: false),
                    on_behalf_of = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    started_by_user_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    api_key_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    trace_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_budget_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    max_steps = table.Column<int>(type: "INTEGER", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    model_calls = table.Column<int>(type: "INTEGER", nullable: false),
                    tool_errors = table.Column<int>(type: "INTEGER", nullable: false),
                    truncated_outputs = table.Column<int>(type: "INTEGER", nullable: false),
                    resumes = table.Column<int>(type: "INTEGER", nullable: false),
                    cancel_requested = table.Column<bool>(type: "INTEGER", nullable: false),
                    lease_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    heartbeat_utc = table.Column<DateTime>(type: "TEXT", nullable: true),
                    output = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: true),
                    error_code = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    replay_of_run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    replay_from_step = table.Column<int>(type: "INTEGER", nullable: true),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    finished_utc = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_runs", x => x.id);
                    table.ForeignKey(
                        name: "fk_agent_runs_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agent_support_tickets",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    subject = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    body = table.Column<string>(type: "TEXT", maxLength: 20000, nullable: false),
                    priority = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_support_tickets", x => x.id);
                    table.ForeignKey(
                        name: "fk_agent_support_tickets_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agent_tool_settings",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tool = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    level = table.Column<int>(type: "INTEGER", nullable: false),
                    updated_by_user_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    updated_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_tool_settings", x => new { x.tenant_id, x.tool });
                    table.ForeignKey(
                        name: "fk_agent_tool_settings_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agents",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    model_alias = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    prompt_name = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    prompt_version_number = table.Column<int>(type: "INTEGER", nullable: true),
                    tools = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    run_budget_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    day_budget_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    max_steps = table.Column<int>(type: "INTEGER", nullable: false),
                    created_by_user_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agents", x => x.id);
                    table.ForeignKey(
                        name: "fk_agents_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agent_run_events",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    type = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    data_json = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_run_events", x => x.id);
                    table.ForeignKey(
                        name: "fk_agent_run_events_agent_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "agent_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "agent_run_steps",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    sequence = table.Column<int>(type: "INTEGER", nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    state = table.Column<string>(type: "TEXT", maxLength: 24, nullable: false),
                    call_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    input_tokens = table.Column<int>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<int>(type: "INTEGER", nullable: false),
                    text = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: true),
                    tool_calls_json = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: true),
                    tool = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    tool_call_id = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    input_json = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: true),
                    output_json = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: true),
                    idempotency_key = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    autonomy_level = table.Column<int>(type: "INTEGER", nullable: true),
                    truncated = table.Column<bool>(type: "INTEGER", nullable: false),
                    approval_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    error_code = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    completed_utc = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_agent_run_steps", x => x.id);
                    table.ForeignKey(
                        name: "fk_agent_run_steps_agent_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "agent_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_agent_customer_credits_tenant_id_idempotency_key",
                table: "agent_customer_credits",
                columns: new[] { "tenant_id", "idempotency_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_agent_mail_sink_tenant_id_created_utc",
                table: "agent_mail_sink",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_agent_mail_sink_tenant_id_idempotency_key",
                table: "agent_mail_sink",
                columns: new[] { "tenant_id", "idempotency_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_agent_run_events_run_id_id",
                table: "agent_run_events",
                columns: new[] { "run_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_agent_run_events_tenant_id",
                table: "agent_run_events",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_agent_run_steps_run_id_sequence",
                table: "agent_run_steps",
                columns: new[] { "run_id", "sequence" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_agent_run_steps_tenant_id",
                table: "agent_run_steps",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_agent_runs_state_heartbeat_utc",
                table: "agent_runs",
                columns: new[] { "state", "heartbeat_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_agent_runs_tenant_id_agent_id_created_utc",
                table: "agent_runs",
                columns: new[] { "tenant_id", "agent_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_agent_runs_tenant_id_created_utc",
                table: "agent_runs",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_agent_support_tickets_tenant_id_idempotency_key",
                table: "agent_support_tickets",
                columns: new[] { "tenant_id", "idempotency_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_agents_tenant_id_name",
                table: "agents",
                columns: new[] { "tenant_id", "name" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "agent_customer_credits");

            migrationBuilder.DropTable(
                name: "agent_mail_sink");

            migrationBuilder.DropTable(
                name: "agent_run_events");

            migrationBuilder.DropTable(
                name: "agent_run_steps");

            migrationBuilder.DropTable(
                name: "agent_support_tickets");

            migrationBuilder.DropTable(
                name: "agent_tool_settings");

            migrationBuilder.DropTable(
                name: "agents");

            migrationBuilder.DropTable(
                name: "agent_runs");
        }
    }
}
