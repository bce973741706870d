using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class BudgetReservations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "budget_reservations",
                columns: table => new
                {
                    call_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    budget_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    period_start_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    amount_micros = table.Column<long>(type: "INTEGER", nullable: false),
                    owner = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    created_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    settled_micros = table.Column<long>(type: "INTEGER", nullable: true),
                    settled_utc = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_reservations", x => new { x.call_id, x.budget_id });
                    table.ForeignKey(
                        name: "fk_budget_reservations_budgets_budget_id",
                        column: x => x.budget_id,
                        principalTable: "budgets",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_budget_reservations_budget_id_period_start_utc",
                table: "budget_reservations",
                columns: new[] { "budget_id", "period_start_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_budget_reservations_created_utc",
                table: "budget_reservations",
                column: "created_utc");

            migrationBuilder.CreateIndex(
                name: "ix_budget_reservations_settled_utc",
                table: "budget_reservations",
                column: "settled_utc");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "budget_reservations");
        }
    }
}
