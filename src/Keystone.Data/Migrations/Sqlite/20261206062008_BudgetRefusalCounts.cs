using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class BudgetRefusalCounts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "last_refusal_reason",
                table: "budget_counters",
                type: "TEXT",
                maxLength: 400,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "last_refused_utc",
                table: "budget_counters",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "refused_count",
                table: "budget_counters",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "last_refusal_reason",
                table: "budget_counters");

            migrationBuilder.DropColumn(
                name: "last_refused_utc",
                table: "budget_counters");

            migrationBuilder.DropColumn(
                name: "refused_count",
                table: "budget_counters");
        }
    }
}
