using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class FeatureCacheSettings : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "feature_cache_settings",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    feature = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    cache = table.Column<bool>(type: "INTEGER", nullable: false),
                    cache_at_temperature_zero = table.Column<bool>(type: "INTEGER", nullable: false),
                    semantic_cache = table.Column<bool>(type: "INTEGER", nullable: false),
                    semantic_threshold = table.Column<double>(type: "REAL", nullable: false),
                    updated_utc = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_by_user_id = table.Column<string>(type: "TEXT", maxLength: 450, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_feature_cache_settings", x => new { x.tenant_id, x.feature });
                    table.ForeignKey(
                        name: "fk_feature_cache_settings_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "feature_cache_settings");
        }
    }
}
