using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EvalBatchMode : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "batch_state_json",
                table: "eval_runs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "mode",
                table: "eval_runs",
                type: "TEXT",
                maxLength: 8,
                nullable: false,
                // Runs from before batch mode were live (decision 0049).
                defaultValue: "live");

            migrationBuilder.AddColumn<string>(
                name: "provider_batch_id",
                table: "eval_runs",
                type: "TEXT",
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
