using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class LocalEmbeddingsPg : Migration
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
                type: "character varying(192)",
                maxLength: 192,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateIndex(
                name: "ix_semantic_cache_entries_tenant_id_context_key_id",
                table: "semantic_cache_entries",
                columns: new[] { "tenant_id", "context_key", "id" });

            // One HNSW index per common embedding length (HNSW needs a fixed dimension; the column holds every model's
            // vectors): the column cast to vector(n), for the rows of that length only. PostgresSemanticCache repeats both
            // expressions so the planner can use it. Decision 0036; the model cannot describe expression indexes.
            foreach (var n in Caching.SemanticCacheEntry.IndexedDimensions)
            {
                migrationBuilder.Sql($"""
                    CREATE INDEX {Caching.SemanticCacheEntry.HnswIndexName(n)} ON semantic_cache_entries
                    USING hnsw ((embedding::vector({n})) vector_cosine_ops) WHERE vector_dims(embedding) = {n};
                    """);
            }
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            foreach (var n in Caching.SemanticCacheEntry.IndexedDimensions)
            {
                migrationBuilder.Sql($"DROP INDEX IF EXISTS {Caching.SemanticCacheEntry.HnswIndexName(n)};");
            }

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
