using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class CallIndexesSlimI : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_llm_traces_tenant_id_created_utc",
                table: "llm_traces");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_cost_micros_id",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_latency_ms_id",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_tenant_id_cost_micros_id",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_tenant_id_end_user_created_utc",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_tenant_id_latency_ms_id",
                table: "llm_calls");

            migrationBuilder.CreateIndex(
                name: "ix_llm_traces_created_utc",
                table: "llm_traces",
                column: "created_utc");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_cost_micros",
                table: "llm_calls",
                column: "cost_micros");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_latency_ms",
                table: "llm_calls",
                column: "latency_ms");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_cost_micros",
                table: "llm_calls",
                columns: new[] { "tenant_id", "cost_micros" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_end_user_created_utc",
                table: "llm_calls",
                columns: new[] { "tenant_id", "end_user", "created_utc" },
                filter: "end_user IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_latency_ms",
                table: "llm_calls",
                columns: new[] { "tenant_id", "latency_ms" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_llm_traces_created_utc",
                table: "llm_traces");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_cost_micros",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_latency_ms",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_tenant_id_cost_micros",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_tenant_id_end_user_created_utc",
                table: "llm_calls");

            migrationBuilder.DropIndex(
                name: "ix_llm_calls_tenant_id_latency_ms",
                table: "llm_calls");

            migrationBuilder.CreateIndex(
                name: "ix_llm_traces_tenant_id_created_utc",
                table: "llm_traces",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_cost_micros_id",
                table: "llm_calls",
                columns: new[] { "cost_micros", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_latency_ms_id",
                table: "llm_calls",
                columns: new[] { "latency_ms", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_cost_micros_id",
                table: "llm_calls",
                columns: new[] { "tenant_id", "cost_micros", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_end_user_created_utc",
                table: "llm_calls",
                columns: new[] { "tenant_id", "end_user", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_latency_ms_id",
                table: "llm_calls",
                columns: new[] { "tenant_id", "latency_ms", "id" });
        }
    }
}
