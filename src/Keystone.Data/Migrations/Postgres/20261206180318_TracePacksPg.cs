using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class TracePacksPg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "pack_id",
                table: "llm_traces",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "pack_slot",
                table: "llm_traces",
                type: "integer",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "pack_id",
                table: "llm_traces");

            migrationBuilder.DropColumn(
                name: "pack_slot",
                table: "llm_traces");
        }
    }
}
