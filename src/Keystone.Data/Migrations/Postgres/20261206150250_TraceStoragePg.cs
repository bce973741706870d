using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class TraceStoragePg : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterTable(
                name: "llm_traces")
                .Annotation("Npgsql:StorageParameter:toast_tuple_target", 256);

            // The search vector stops being generated from a stored search_text: an insert trigger computes it and drops the
            // text (decision 0049, PostgresModel). DROP EXPRESSION keeps every existing vector. The vector is stripped of
            // positions: search asks for words (AND), never phrases or a rank, and positions were half its bytes.
            migrationBuilder.Sql("ALTER TABLE llm_traces ALTER COLUMN search_vector DROP EXPRESSION;");
            migrationBuilder.Sql("""
                CREATE OR REPLACE FUNCTION llm_traces_search_vector() RETURNS trigger LANGUAGE plpgsql AS $fn$
                BEGIN
                  NEW.search_vector := strip(to_tsvector('english', coalesce(NEW.search_text, '')));
                  NEW.search_text := NULL;
                  RETURN NEW;
                END
                $fn$;
                DROP TRIGGER IF EXISTS llm_traces_search_vector ON llm_traces;
                CREATE TRIGGER llm_traces_search_vector BEFORE INSERT OR UPDATE OF search_text ON llm_traces
                  FOR EACH ROW EXECUTE FUNCTION llm_traces_search_vector();
                """);

            migrationBuilder.AlterColumn<string>(
                name: "response_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .Annotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "request_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .Annotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "raw_response_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .Annotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "raw_request_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .Annotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "attempts_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .Annotation("Npgsql:Compression:", "lz4");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterTable(
                name: "llm_traces")
                .OldAnnotation("Npgsql:StorageParameter:toast_tuple_target", 256);

            migrationBuilder.AlterColumn<string>(
                name: "response_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .OldAnnotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "request_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .OldAnnotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "raw_response_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .OldAnnotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "raw_request_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .OldAnnotation("Npgsql:Compression:", "lz4");

            migrationBuilder.AlterColumn<string>(
                name: "attempts_json",
                table: "llm_traces",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true)
                .OldAnnotation("Npgsql:Compression:", "lz4");

            // The generated column again (traces recorded meanwhile have no search_text and stay unsearchable).
            migrationBuilder.Sql("""
                DROP TRIGGER IF EXISTS llm_traces_search_vector ON llm_traces;
                DROP FUNCTION IF EXISTS llm_traces_search_vector();
                DROP INDEX IF EXISTS ix_llm_traces_search_vector;
                ALTER TABLE llm_traces DROP COLUMN search_vector;
                ALTER TABLE llm_traces ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(search_text, ''))) STORED;
                CREATE INDEX ix_llm_traces_search_vector ON llm_traces USING GIN (search_vector);
                """);
        }
    }
}
