using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
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
                type: "TEXT",
                maxLength: 4096,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "expires_utc",
                table: "api_keys",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "previous_expires_utc",
                table: "api_keys",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "previous_hash",
                table: "api_keys",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "previous_prefix",
                table: "api_keys",
                type: "TEXT",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "rotated_utc",
                table: "api_keys",
                type: "TEXT",
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
