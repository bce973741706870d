using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class EvalFeatureSetsAndCandidatesPg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "feature",
                table: "eval_sets",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "judge_prompt_version",
                table: "eval_results",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "judge_prompt_version_id",
                table: "eval_results",
                type: "uuid",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "eval_candidates",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    call_id = table.Column<Guid>(type: "uuid", nullable: false),
                    trace_id = table.Column<Guid>(type: "uuid", nullable: false),
                    feature = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    prompt_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    prompt_version_id = table.Column<Guid>(type: "uuid", nullable: true),
                    alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    input_json = table.Column<string>(type: "text", nullable: false),
                    answer = table.Column<string>(type: "character varying(64000)", maxLength: 64000, nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    call_created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    reviewed_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    reviewed_by_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    reviewed_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    accepted_set_id = table.Column<Guid>(type: "uuid", nullable: true),
                    accepted_example_id = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_candidates", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_candidates_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "eval_sampler_state",
                columns: table => new
                {
                    name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    watermark_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    last_run_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    last_run_calls = table.Column<int>(type: "integer", nullable: false),
                    last_run_queued = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_sampler_state", x => x.name);
                });

            migrationBuilder.CreateTable(
                name: "eval_sampling_rates",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    feature = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    rate_ppm = table.Column<int>(type: "integer", nullable: false),
                    updated_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_sampling_rates", x => new { x.tenant_id, x.feature });
                    table.ForeignKey(
                        name: "fk_eval_sampling_rates_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_eval_sets_feature",
                table: "eval_sets",
                column: "feature");

            migrationBuilder.CreateIndex(
                name: "ix_eval_candidates_status_tenant_id_created_utc",
                table: "eval_candidates",
                columns: new[] { "status", "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_candidates_tenant_id_call_id",
                table: "eval_candidates",
                columns: new[] { "tenant_id", "call_id" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "eval_candidates");

            migrationBuilder.DropTable(
                name: "eval_sampler_state");

            migrationBuilder.DropTable(
                name: "eval_sampling_rates");

            migrationBuilder.DropIndex(
                name: "ix_eval_sets_feature",
                table: "eval_sets");

            migrationBuilder.DropColumn(
                name: "feature",
                table: "eval_sets");

            migrationBuilder.DropColumn(
                name: "judge_prompt_version",
                table: "eval_results");

            migrationBuilder.DropColumn(
                name: "judge_prompt_version_id",
                table: "eval_results");
        }
    }
}
