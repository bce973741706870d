using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Sqlite
{
    /// <summary>
    /// Trace payloads are stored Brotli-compressed (<see cref="Calls.TraceCompression"/>): the model's type for the five
    /// JSON columns of <c>llm_traces</c> becomes BLOB. Nothing is run: SQLite keeps a BLOB written to a TEXT-affinity
    /// column as a BLOB, and the rows stored before stay readable as they are (plain UTF-8, told apart by the
    /// compression's marker byte), so an existing database upgrades without rewriting its largest table (the table
    /// rebuild EF Core scaffolds for a changed column type would copy every trace and drop the full-text triggers).
    /// Old rows leave through retention like any trace.
    /// </summary>
    public partial class CompactTraces : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
        }
    }
}
