using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ApprovalsPg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "pending_actions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    tool = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    input_json = table.Column<string>(type: "character varying(65536)", maxLength: 65536, nullable: false),
                    edited_input_json = table.Column<string>(type: "character varying(65536)", maxLength: 65536, nullable: true),
                    rationale = table.Column<string>(type: "character varying(8000)", maxLength: 8000, nullable: true),
                    summary = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: false),
                    amount_micros = table.Column<long>(type: "bigint", nullable: true),
                    on_behalf_of_user_id = table.Column<string>(type: "character varying(450)", maxLength: 450, nullable: false),
                    approver_role = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    input_editable = table.Column<bool>(type: "boolean", nullable: false),
                    source_kind = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    source_id = table.Column<Guid>(type: "uuid", nullable: false),
                    source_step_key = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    decided_by_id = table.Column<string>(type: "character varying(450)", maxLength: 450, nullable: true),
                    decided_by_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    comment = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    expires_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    decided_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    handled_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    handler_attempts = table.Column<int>(type: "integer", nullable: false),
                    handler_error = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    handler_lease_until_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_pending_actions", x => x.id);
                    table.ForeignKey(
                        name: "fk_pending_actions_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_pending_actions_handled_utc",
                table: "pending_actions",
                column: "handled_utc");

            migrationBuilder.CreateIndex(
                name: "ix_pending_actions_status_expires_utc",
                table: "pending_actions",
                columns: new[] { "status", "expires_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_pending_actions_tenant_id_decided_utc",
                table: "pending_actions",
                columns: new[] { "tenant_id", "decided_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_pending_actions_tenant_id_source_kind_source_id_source_step",
                table: "pending_actions",
                columns: new[] { "tenant_id", "source_kind", "source_id", "source_step_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_pending_actions_tenant_id_status_created_utc",
                table: "pending_actions",
                columns: new[] { "tenant_id", "status", "created_utc" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "pending_actions");
        }
    }
}
