using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class TracePacks : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "pack_id",
                table: "llm_traces",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "pack_slot",
                table: "llm_traces",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "llm_trace_packs",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    first_created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    last_created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    count = table.Column<int>(type: "INTEGER", nullable: false),
                    payloads = table.Column<byte[]>(type: "BLOB", nullable: false),
                    raw_payloads = table.Column<byte[]>(type: "BLOB", nullable: true),
                    raw_count = table.Column<int>(type: "INTEGER", nullable: false),
                    raw_purged_utc = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_llm_trace_packs", x => x.id);
                    table.ForeignKey(
                        name: "fk_llm_trace_packs_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_llm_trace_packs_tenant_id_first_created_utc",
                table: "llm_trace_packs",
                columns: new[] { "tenant_id", "first_created_utc" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "llm_trace_packs");

            migrationBuilder.DropColumn(
                name: "pack_id",
                table: "llm_traces");

            migrationBuilder.DropColumn(
                name: "pack_slot",
                table: "llm_traces");
        }
    }
}
