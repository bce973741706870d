using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class LocalEmbeddings : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_semantic_cache_entries_tenant_id_context_key_created_utc",
                table: "semantic_cache_entries");

            migrationBuilder.AddColumn<string>(
                name: "embedding_model",
                table: "semantic_cache_entries",
                type: "TEXT",
                maxLength: 192,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateIndex(
                name: "ix_semantic_cache_entries_tenant_id_context_key_id",
                table: "semantic_cache_entries",
                columns: new[] { "tenant_id", "context_key", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_semantic_cache_entries_tenant_id_context_key_id",
                table: "semantic_cache_entries");

            migrationBuilder.DropColumn(
                name: "embedding_model",
                table: "semantic_cache_entries");

            migrationBuilder.CreateIndex(
                name: "ix_semantic_cache_entries_tenant_id_context_key_created_utc",
                table: "semantic_cache_entries",
                columns: new[] { "tenant_id", "context_key", "created_utc" });
        }
    }
}
