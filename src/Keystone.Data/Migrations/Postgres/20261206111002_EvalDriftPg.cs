using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class EvalDriftPg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "eval_baselines",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    prompt_name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    activation_id = table.Column<long>(type: "bigint", nullable: false),
                    prompt_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version_number = table.Column<int>(type: "integer", nullable: false),
                    set_id = table.Column<Guid>(type: "uuid", nullable: false),
                    alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    score_points = table.Column<double>(type: "double precision", nullable: false),
                    source = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_baselines", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_baselines_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "eval_drift_alerts",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    prompt_name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    prompt_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version_number = table.Column<int>(type: "integer", nullable: false),
                    activation_id = table.Column<long>(type: "bigint", nullable: false),
                    alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    model = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    set_id = table.Column<Guid>(type: "uuid", nullable: false),
                    set_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    baseline_run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    baseline_score_points = table.Column<double>(type: "double precision", nullable: false),
                    score_points = table.Column<double>(type: "double precision", nullable: false),
                    tolerance_points = table.Column<double>(type: "double precision", nullable: false),
                    changed_examples_json = table.Column<string>(type: "character varying(32000)", maxLength: 32000, nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    open_key = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    handled_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    handled_by_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    handled_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    rolled_back_to_version = table.Column<int>(type: "integer", nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_drift_alerts", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_drift_alerts_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "eval_tolerances",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    prompt_name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    owner_key = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    tolerance_points = table.Column<double>(type: "double precision", nullable: false),
                    updated_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    updated_by_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_tolerances", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_tolerances_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_eval_baselines_activation_id_set_id",
                table: "eval_baselines",
                columns: new[] { "activation_id", "set_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_eval_baselines_tenant_id",
                table: "eval_baselines",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_eval_drift_alerts_open_key",
                table: "eval_drift_alerts",
                column: "open_key",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_eval_drift_alerts_prompt_name_created_utc",
                table: "eval_drift_alerts",
                columns: new[] { "prompt_name", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_drift_alerts_status_created_utc",
                table: "eval_drift_alerts",
                columns: new[] { "status", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_drift_alerts_tenant_id",
                table: "eval_drift_alerts",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_eval_tolerances_prompt_name_owner_key",
                table: "eval_tolerances",
                columns: new[] { "prompt_name", "owner_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_eval_tolerances_tenant_id",
                table: "eval_tolerances",
                column: "tenant_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "eval_baselines");

            migrationBuilder.DropTable(
                name: "eval_drift_alerts");

            migrationBuilder.DropTable(
                name: "eval_tolerances");
        }
    }
}
