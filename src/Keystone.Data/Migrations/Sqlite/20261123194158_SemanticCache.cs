using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class SemanticCache : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "semantic_cache_entries",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    context_key = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    question = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    embedding = table.Column<byte[]>(type: "BLOB", nullable: false),
                    alias = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    provider = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    model = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    response_json = table.Column<string>(type: "TEXT", nullable: false),
                    cost_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    expires_utc = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_semantic_cache_entries", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_semantic_cache_entries_expires_utc",
                table: "semantic_cache_entries",
                column: "expires_utc");

            migrationBuilder.CreateIndex(
                name: "ix_semantic_cache_entries_tenant_id_context_key_created_utc",
                table: "semantic_cache_entries",
                columns: new[] { "tenant_id", "context_key", "created_utc" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "semantic_cache_entries");
        }
    }
}
