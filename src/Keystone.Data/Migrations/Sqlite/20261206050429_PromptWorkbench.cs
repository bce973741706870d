using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class PromptWorkbench : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "sample_variables",
                table: "prompts",
                type: "TEXT",
                maxLength: 32000,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "response_schema",
                table: "prompt_versions",
                type: "TEXT",
                maxLength: 32000,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "sample_variables",
                table: "prompts");

            migrationBuilder.DropColumn(
                name: "response_schema",
                table: "prompt_versions");
        }
    }
}
