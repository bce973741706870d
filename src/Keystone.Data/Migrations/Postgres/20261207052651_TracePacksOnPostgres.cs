using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class TracePacksOnPostgres : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "llm_trace_packs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    first_created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    count = table.Column<int>(type: "integer", nullable: false),
                    payloads = table.Column<byte[]>(type: "bytea", nullable: false),
                    raw_payloads = table.Column<byte[]>(type: "bytea", nullable: true),
                    raw_count = table.Column<int>(type: "integer", nullable: false),
                    raw_purged_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
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

            // The blobs are Brotli streams already (TracePack): TOAST stores them out of line without trying to compress them.
            migrationBuilder.Sql("ALTER TABLE llm_trace_packs ALTER COLUMN payloads SET STORAGE EXTERNAL, ALTER COLUMN raw_payloads SET STORAGE EXTERNAL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "llm_trace_packs");
        }
    }
}
