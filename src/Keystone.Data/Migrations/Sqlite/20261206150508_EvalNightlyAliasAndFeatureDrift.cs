using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EvalNightlyAliasAndFeatureDrift : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "nightly_alias",
                table: "eval_sets",
                type: "TEXT",
                maxLength: 128,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "nightly_alias_since_utc",
                table: "eval_sets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AlterColumn<int>(
                name: "version_number",
                table: "eval_drift_alerts",
                type: "INTEGER",
                nullable: true,
                oldClrType: typeof(int),
                oldType: "INTEGER");

            migrationBuilder.AlterColumn<Guid>(
                name: "prompt_version_id",
                table: "eval_drift_alerts",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(Guid),
                oldType: "TEXT");

            migrationBuilder.AlterColumn<long>(
                name: "activation_id",
                table: "eval_drift_alerts",
                type: "INTEGER",
                nullable: true,
                oldClrType: typeof(long),
                oldType: "INTEGER");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "nightly_alias",
                table: "eval_sets");

            migrationBuilder.DropColumn(
                name: "nightly_alias_since_utc",
                table: "eval_sets");

            migrationBuilder.AlterColumn<int>(
                name: "version_number",
                table: "eval_drift_alerts",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0,
                oldClrType: typeof(int),
                oldType: "INTEGER",
                oldNullable: true);

            migrationBuilder.AlterColumn<Guid>(
                name: "prompt_version_id",
                table: "eval_drift_alerts",
                type: "TEXT",
                nullable: false,
                defaultValue: new Guid("00000000-0000-0000-0000-000000000000"),
                oldClrType: typeof(Guid),
                oldType: "TEXT",
                oldNullable: true);

            migrationBuilder.AlterColumn<long>(
                name: "activation_id",
                table: "eval_drift_alerts",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L,
                oldClrType: typeof(long),
                oldType: "INTEGER",
                oldNullable: true);
        }
    }
}
