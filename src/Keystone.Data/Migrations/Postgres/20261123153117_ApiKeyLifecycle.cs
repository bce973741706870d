using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ApiKeyLifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "allowed_models",
                table: "api_keys",
                type: "character varying(4096)",
                maxLength: 4096,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "expires_utc",
                table: "api_keys",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "previous_expires_utc",
                table: "api_keys",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "previous_hash",
                table: "api_keys",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "previous_prefix",
                table: "api_keys",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "rotated_utc",
                table: "api_keys",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_api_keys_previous_hash",
                table: "api_keys",
                column: "previous_hash",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_api_keys_previous_hash",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "allowed_models",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "expires_utc",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "previous_expires_utc",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "previous_hash",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "previous_prefix",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "rotated_utc",
                table: "api_keys");
        }
    }
}
