using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EvalRuns : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "eval_runs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    billing_tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    set_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    set_name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    prompt_name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    prompt_version_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    prompt_version_number = table.Column<int>(type: "INTEGER", nullable: true),
                    alias = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    trigger = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    example_ids_json = table.Column<string>(type: "TEXT", nullable: false),
                    total = table.Column<int>(type: "INTEGER", nullable: false),
                    completed = table.Column<int>(type: "INTEGER", nullable: false),
                    passed = table.Column<int>(type: "INTEGER", nullable: false),
                    errored = table.Column<int>(type: "INTEGER", nullable: false),
                    score_sum = table.Column<double>(type: "REAL", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    input_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<long>(type: "INTEGER", nullable: false),
                    latency_ms_sum = table.Column<long>(type: "INTEGER", nullable: false),
                    attempt = table.Column<int>(type: "INTEGER", nullable: false),
                    cancel_requested = table.Column<bool>(type: "INTEGER", nullable: false),
                    worker_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    heartbeat_utc = table.Column<DateTime>(type: "TEXT", nullable: true),
                    failure_reason = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    started_by_user_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    started_by_name = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    started_utc = table.Column<DateTime>(type: "TEXT", nullable: true),
                    finished_utc = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_runs", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_runs_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "eval_results",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    example_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    attempt = table.Column<int>(type: "INTEGER", nullable: false),
                    answer = table.Column<string>(type: "TEXT", maxLength: 64000, nullable: false),
                    score = table.Column<double>(type: "REAL", nullable: false),
                    passed = table.Column<bool>(type: "INTEGER", nullable: false),
                    reasons = table.Column<string>(type: "TEXT", maxLength: 8000, nullable: false),
                    error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    input_tokens = table.Column<int>(type: "INTEGER", nullable: false),
                    output_tokens = table.Column<int>(type: "INTEGER", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    latency_ms = table.Column<int>(type: "INTEGER", nullable: false),
                    trace_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_results", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_results_eval_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "eval_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_eval_results_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_eval_results_run_id_created_utc",
                table: "eval_results",
                columns: new[] { "run_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_results_run_id_example_id",
                table: "eval_results",
                columns: new[] { "run_id", "example_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_eval_results_tenant_id",
                table: "eval_results",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_eval_runs_set_id_created_utc",
                table: "eval_runs",
                columns: new[] { "set_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_runs_status_heartbeat_utc",
                table: "eval_runs",
                columns: new[] { "status", "heartbeat_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_runs_tenant_id",
                table: "eval_runs",
                column: "tenant_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "eval_results");

            migrationBuilder.DropTable(
                name: "eval_runs");
        }
    }
}
