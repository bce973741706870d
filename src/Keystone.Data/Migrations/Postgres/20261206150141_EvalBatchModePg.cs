using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class EvalBatchModePg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "batch_state_json",
                table: "eval_runs",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "mode",
                table: "eval_runs",
                type: "character varying(8)",
                maxLength: 8,
                nullable: false,
                // Runs from before batch mode were live (decision 0049).
                defaultValue: "live");

            migrationBuilder.AddColumn<string>(
                name: "provider_batch_id",
                table: "eval_runs",
                type: "character varying(128)",
                maxLength: 128,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "batch_state_json",
                table: "eval_runs");

            migrationBuilder.DropColumn(
                name: "mode",
                table: "eval_runs");

            migrationBuilder.DropColumn(
                name: "provider_batch_id",
                table: "eval_runs");
        }
    }
}
