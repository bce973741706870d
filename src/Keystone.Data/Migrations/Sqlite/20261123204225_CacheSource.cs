using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class CacheSource : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<Guid>(
                name: "source_call_id",
                table: "semantic_cache_entries",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "cache_similarity",
                table: "llm_calls",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "cache_source_call_id",
                table: "llm_calls",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "source_call_id",
                table: "exact_cache_entries",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "source_call_id",
                table: "semantic_cache_entries");

            migrationBuilder.DropColumn(
                name: "cache_similarity",
                table: "llm_calls");

            migrationBuilder.DropColumn(
                name: "cache_source_call_id",
                table: "llm_calls");

            migrationBuilder.DropColumn(
                name: "source_call_id",
                table: "exact_cache_entries");
        }
    }
}
