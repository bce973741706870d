using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;
using NpgsqlTypes;

#nullable disable

namespace Keystone.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:PostgresExtension:vector", ",,");

            migrationBuilder.CreateTable(
                name: "AspNetRoles",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    normalized_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    concurrency_stamp = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_roles", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "AspNetUsers",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    display_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    selected_tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    user_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    normalized_user_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    email = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    normalized_email = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    email_confirmed = table.Column<bool>(type: "boolean", nullable: false),
                    password_hash = table.Column<string>(type: "text", nullable: true),
                    security_stamp = table.Column<string>(type: "text", nullable: true),
                    concurrency_stamp = table.Column<string>(type: "text", nullable: true),
                    phone_number = table.Column<string>(type: "text", nullable: true),
                    phone_number_confirmed = table.Column<bool>(type: "boolean", nullable: false),
                    two_factor_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    lockout_end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    lockout_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    access_failed_count = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_users", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "audit_log",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    actor_type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    actor_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    actor_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    on_behalf_of = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    action = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    target = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    metadata_json = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_audit_log", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "exact_cache_entries",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    key = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    provider = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    response_json = table.Column<string>(type: "text", nullable: false),
                    cost_micros = table.Column<long>(type: "bigint", nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    expires_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_exact_cache_entries", x => new { x.tenant_id, x.key });
                });

            migrationBuilder.CreateTable(
                name: "idempotency_records",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    key = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    call_id = table.Column<Guid>(type: "uuid", nullable: false),
                    result_json = table.Column<string>(type: "text", nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    expires_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_idempotency_records", x => new { x.tenant_id, x.key });
                });

            migrationBuilder.CreateTable(
                name: "invoice_lines",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    period_start_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    amount_micros = table.Column<long>(type: "bigint", nullable: false),
                    currency = table.Column<string>(type: "character varying(3)", maxLength: 3, nullable: false),
                    customer = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    import_id = table.Column<Guid>(type: "uuid", nullable: false),
                    source_row = table.Column<int>(type: "integer", nullable: false),
                    imported_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_invoice_lines", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "llm_calls",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    trace_id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    end_user = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    api_key_id = table.Column<Guid>(type: "uuid", nullable: true),
                    feature = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    request_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    prompt_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    prompt_version_id = table.Column<Guid>(type: "uuid", nullable: true),
                    alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    provider = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    streamed = table.Column<bool>(type: "boolean", nullable: false),
                    input_tokens = table.Column<int>(type: "integer", nullable: false),
                    output_tokens = table.Column<int>(type: "integer", nullable: false),
                    cached_input_tokens = table.Column<int>(type: "integer", nullable: false),
                    cache_write_tokens = table.Column<int>(type: "integer", nullable: false),
                    cache_write1h_tokens = table.Column<int>(type: "integer", nullable: false),
                    reasoning_tokens = table.Column<int>(type: "integer", nullable: false),
                    cost_micros = table.Column<long>(type: "bigint", nullable: false),
                    cost_status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    billed_to = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    cache_status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    saved_cost_micros = table.Column<long>(type: "bigint", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    fell_back = table.Column<bool>(type: "boolean", nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    error_code = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    latency_ms = table.Column<int>(type: "integer", nullable: false),
                    ttft_ms = table.Column<int>(type: "integer", nullable: true),
                    replay_of_call_id = table.Column<Guid>(type: "uuid", nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    ingested_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false, defaultValueSql: "clock_timestamp()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_llm_calls", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "model_prices",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    provider = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    input_micros_per_million = table.Column<long>(type: "bigint", nullable: false),
                    output_micros_per_million = table.Column<long>(type: "bigint", nullable: false),
                    cached_input_micros_per_million = table.Column<long>(type: "bigint", nullable: true),
                    cache_write5m_micros_per_million = table.Column<long>(type: "bigint", nullable: true),
                    cache_write1h_micros_per_million = table.Column<long>(type: "bigint", nullable: true),
                    batch_discount_percent = table.Column<int>(type: "integer", nullable: false),
                    effective_from_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    source = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_prices", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "plans",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    monthly_price_micros = table.Column<long>(type: "bigint", nullable: false),
                    included_usage_micros = table.Column<long>(type: "bigint", nullable: false),
                    overage_markup_basis_points = table.Column<int>(type: "integer", nullable: false),
                    default_tenant_day_cap_micros = table.Column<long>(type: "bigint", nullable: true),
                    default_tenant_month_cap_micros = table.Column<long>(type: "bigint", nullable: true),
                    default_user_day_cap_micros = table.Column<long>(type: "bigint", nullable: true),
                    default_requests_per_minute = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_plans", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "prompts",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    description = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_prompts", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "rollup_state",
                columns: table => new
                {
                    name = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    watermark_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    last_run_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    last_run_hours = table.Column<int>(type: "integer", nullable: false),
                    last_run_calls = table.Column<long>(type: "bigint", nullable: false),
                    last_run_ms = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_rollup_state", x => x.name);
                });

            migrationBuilder.CreateTable(
                name: "saved_trace_searches",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    query = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_saved_trace_searches", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "usage_rollups",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    grain = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    bucket_start_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    feature = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    provider = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    billed_to = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    calls = table.Column<long>(type: "bigint", nullable: false),
                    errors = table.Column<long>(type: "bigint", nullable: false),
                    rejections = table.Column<long>(type: "bigint", nullable: false),
                    cancellations = table.Column<long>(type: "bigint", nullable: false),
                    fallbacks = table.Column<long>(type: "bigint", nullable: false),
                    cache_hits = table.Column<long>(type: "bigint", nullable: false),
                    input_tokens = table.Column<long>(type: "bigint", nullable: false),
                    output_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cached_input_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cache_write_tokens = table.Column<long>(type: "bigint", nullable: false),
                    reasoning_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cost_micros = table.Column<long>(type: "bigint", nullable: false),
                    saved_cost_micros = table.Column<long>(type: "bigint", nullable: false),
                    unknown_cost_calls = table.Column<long>(type: "bigint", nullable: false),
                    latency_ms_sum = table.Column<long>(type: "bigint", nullable: false),
                    ttft_count = table.Column<long>(type: "bigint", nullable: false),
                    ttft_ms_sum = table.Column<long>(type: "bigint", nullable: false),
                    lat0 = table.Column<long>(type: "bigint", nullable: false),
                    lat1 = table.Column<long>(type: "bigint", nullable: false),
                    lat2 = table.Column<long>(type: "bigint", nullable: false),
                    lat3 = table.Column<long>(type: "bigint", nullable: false),
                    lat4 = table.Column<long>(type: "bigint", nullable: false),
                    lat5 = table.Column<long>(type: "bigint", nullable: false),
                    lat6 = table.Column<long>(type: "bigint", nullable: false),
                    lat7 = table.Column<long>(type: "bigint", nullable: false),
                    lat8 = table.Column<long>(type: "bigint", nullable: false),
                    lat9 = table.Column<long>(type: "bigint", nullable: false),
                    ttft0 = table.Column<long>(type: "bigint", nullable: false),
                    ttft1 = table.Column<long>(type: "bigint", nullable: false),
                    ttft2 = table.Column<long>(type: "bigint", nullable: false),
                    ttft3 = table.Column<long>(type: "bigint", nullable: false),
                    ttft4 = table.Column<long>(type: "bigint", nullable: false),
                    ttft5 = table.Column<long>(type: "bigint", nullable: false),
                    ttft6 = table.Column<long>(type: "bigint", nullable: false),
                    ttft7 = table.Column<long>(type: "bigint", nullable: false),
                    ttft8 = table.Column<long>(type: "bigint", nullable: false),
                    ttft9 = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_rollups", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "usage_user_daily",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    day_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    end_user = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    feature = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    billed_to = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    calls = table.Column<long>(type: "bigint", nullable: false),
                    errors = table.Column<long>(type: "bigint", nullable: false),
                    input_tokens = table.Column<long>(type: "bigint", nullable: false),
                    output_tokens = table.Column<long>(type: "bigint", nullable: false),
                    cost_micros = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_user_daily", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "AspNetRoleClaims",
                columns: table => new
                {
                    id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    role_id = table.Column<string>(type: "text", nullable: false),
                    claim_type = table.Column<string>(type: "text", nullable: true),
                    claim_value = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_role_claims", x => x.id);
                    table.ForeignKey(
                        name: "fk_asp_net_role_claims_asp_net_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "AspNetRoles",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "AspNetUserClaims",
                columns: table => new
                {
                    id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    user_id = table.Column<string>(type: "text", nullable: false),
                    claim_type = table.Column<string>(type: "text", nullable: true),
                    claim_value = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_user_claims", x => x.id);
                    table.ForeignKey(
                        name: "fk_asp_net_user_claims_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "AspNetUsers",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "AspNetUserLogins",
                columns: table => new
                {
                    login_provider = table.Column<string>(type: "text", nullable: false),
                    provider_key = table.Column<string>(type: "text", nullable: false),
                    provider_display_name = table.Column<string>(type: "text", nullable: true),
                    user_id = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_user_logins", x => new { x.login_provider, x.provider_key });
                    table.ForeignKey(
                        name: "fk_asp_net_user_logins_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "AspNetUsers",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "AspNetUserRoles",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    role_id = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_user_roles", x => new { x.user_id, x.role_id });
                    table.ForeignKey(
                        name: "fk_asp_net_user_roles_asp_net_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "AspNetRoles",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_asp_net_user_roles_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "AspNetUsers",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "AspNetUserTokens",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    login_provider = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    value = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_asp_net_user_tokens", x => new { x.user_id, x.login_provider, x.name });
                    table.ForeignKey(
                        name: "fk_asp_net_user_tokens_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "AspNetUsers",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "llm_traces",
                columns: table => new
                {
                    call_id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    request_json = table.Column<string>(type: "text", nullable: true),
                    response_json = table.Column<string>(type: "text", nullable: true),
                    raw_request_json = table.Column<string>(type: "text", nullable: true),
                    raw_response_json = table.Column<string>(type: "text", nullable: true),
                    attempts_json = table.Column<string>(type: "text", nullable: true),
                    search_text = table.Column<string>(type: "text", nullable: true),
                    redaction_count = table.Column<int>(type: "integer", nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    raw_purged_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    search_vector = table.Column<NpgsqlTsVector>(type: "tsvector", nullable: true, computedColumnSql: "to_tsvector('english', coalesce(search_text, ''))", stored: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_llm_traces", x => x.call_id);
                    table.ForeignKey(
                        name: "fk_llm_traces_llm_calls_call_id",
                        column: x => x.call_id,
                        principalTable: "llm_calls",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "tenants",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    slug = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    plan_id = table.Column<Guid>(type: "uuid", nullable: false),
                    contract_monthly_price_micros = table.Column<long>(type: "bigint", nullable: true),
                    is_demo = table.Column<bool>(type: "boolean", nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_tenants", x => x.id);
                    table.ForeignKey(
                        name: "fk_tenants_plans_plan_id",
                        column: x => x.plan_id,
                        principalTable: "plans",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "prompt_versions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    prompt_id = table.Column<Guid>(type: "uuid", nullable: false),
                    number = table.Column<int>(type: "integer", nullable: false),
                    system_template = table.Column<string>(type: "character varying(32000)", maxLength: 32000, nullable: false),
                    user_template = table.Column<string>(type: "character varying(32000)", maxLength: 32000, nullable: false),
                    model_alias = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    temperature = table.Column<double>(type: "double precision", nullable: true),
                    max_tokens = table.Column<int>(type: "integer", nullable: true),
                    note = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    created_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    created_by_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_prompt_versions", x => x.id);
                    table.ForeignKey(
                        name: "fk_prompt_versions_prompts_prompt_id",
                        column: x => x.prompt_id,
                        principalTable: "prompts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "api_keys",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    prefix = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    hash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    scopes = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    requests_per_minute = table.Column<int>(type: "integer", nullable: true),
                    created_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_used_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    revoked_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_api_keys", x => x.id);
                    table.ForeignKey(
                        name: "fk_api_keys_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "budget_settings",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    soft_thresholds_percent = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    action_at_limit = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_settings", x => x.tenant_id);
                    table.ForeignKey(
                        name: "fk_budget_settings_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "budgets",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    scope = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    key = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    period = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    limit_micros = table.Column<long>(type: "bigint", nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budgets", x => x.id);
                    table.ForeignKey(
                        name: "fk_budgets_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "conversations",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    title = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    system_prompt = table.Column<string>(type: "character varying(20000)", maxLength: 20000, nullable: true),
                    temperature = table.Column<double>(type: "double precision", nullable: true),
                    max_tokens = table.Column<int>(type: "integer", nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_conversations", x => x.id);
                    table.ForeignKey(
                        name: "fk_conversations_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "eval_examples",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    eval_set = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    prompt_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    prompt_version_id = table.Column<Guid>(type: "uuid", nullable: true),
                    input_json = table.Column<string>(type: "text", nullable: false),
                    expected_output = table.Column<string>(type: "character varying(64000)", maxLength: 64000, nullable: false),
                    source_call_id = table.Column<Guid>(type: "uuid", nullable: true),
                    notes = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    created_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_eval_examples", x => x.id);
                    table.ForeignKey(
                        name: "fk_eval_examples_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "feedback",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    trace_id = table.Column<Guid>(type: "uuid", nullable: false),
                    score = table.Column<int>(type: "integer", nullable: false),
                    comment = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    api_key_id = table.Column<Guid>(type: "uuid", nullable: true),
                    end_user = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_feedback", x => x.id);
                    table.ForeignKey(
                        name: "fk_feedback_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "memberships",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    role = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_memberships", x => x.id);
                    table.ForeignKey(
                        name: "fk_memberships_asp_net_users_user_id",
                        column: x => x.user_id,
                        principalTable: "AspNetUsers",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_memberships_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "provider_credentials",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    provider = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    protected_secret = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: false),
                    last4 = table.Column<string>(type: "character varying(4)", maxLength: 4, nullable: false),
                    base_url = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_provider_credentials", x => x.id);
                    table.ForeignKey(
                        name: "fk_provider_credentials_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "tenant_model_policies",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    allowed_models = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    alias_overrides_json = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: true),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_tenant_model_policies", x => x.tenant_id);
                    table.ForeignKey(
                        name: "fk_tenant_model_policies_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "trace_retention_policies",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    raw_days = table.Column<int>(type: "integer", nullable: true),
                    redacted_days = table.Column<int>(type: "integer", nullable: true),
                    updated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_trace_retention_policies", x => x.tenant_id);
                    table.ForeignKey(
                        name: "fk_trace_retention_policies_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "prompt_activations",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    prompt_id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    version_id = table.Column<Guid>(type: "uuid", nullable: true),
                    activated_by_user_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    activated_by_name = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    is_rollback = table.Column<bool>(type: "boolean", nullable: false),
                    activated_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_prompt_activations", x => x.id);
                    table.ForeignKey(
                        name: "fk_prompt_activations_prompt_versions_version_id",
                        column: x => x.version_id,
                        principalTable: "prompt_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "fk_prompt_activations_prompts_prompt_id",
                        column: x => x.prompt_id,
                        principalTable: "prompts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_prompt_activations_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "budget_counters",
                columns: table => new
                {
                    budget_id = table.Column<Guid>(type: "uuid", nullable: false),
                    period_start_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    spent_micros = table.Column<long>(type: "bigint", nullable: false),
                    reserved_micros = table.Column<long>(type: "bigint", nullable: false),
                    fired_threshold_percent = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_budget_counters", x => new { x.budget_id, x.period_start_utc });
                    table.ForeignKey(
                        name: "fk_budget_counters_budgets_budget_id",
                        column: x => x.budget_id,
                        principalTable: "budgets",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "conversation_messages",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    conversation_id = table.Column<Guid>(type: "uuid", nullable: false),
                    sequence = table.Column<int>(type: "integer", nullable: false),
                    role = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    content = table.Column<string>(type: "text", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    variant = table.Column<int>(type: "integer", nullable: false),
                    requested_model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    call_id = table.Column<Guid>(type: "uuid", nullable: true),
                    trace_id = table.Column<Guid>(type: "uuid", nullable: true),
                    provider = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    fell_back = table.Column<bool>(type: "boolean", nullable: false),
                    cache_status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    input_tokens = table.Column<int>(type: "integer", nullable: false),
                    output_tokens = table.Column<int>(type: "integer", nullable: false),
                    cached_input_tokens = table.Column<int>(type: "integer", nullable: false),
                    cost_micros = table.Column<long>(type: "bigint", nullable: false),
                    cost_status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    ttft_ms = table.Column<int>(type: "integer", nullable: true),
                    latency_ms = table.Column<int>(type: "integer", nullable: true),
                    error = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: true),
                    created_utc = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_conversation_messages", x => x.id);
                    table.ForeignKey(
                        name: "fk_conversation_messages_conversations_conversation_id",
                        column: x => x.conversation_id,
                        principalTable: "conversations",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_api_keys_hash",
                table: "api_keys",
                column: "hash",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_api_keys_tenant_id_created_utc",
                table: "api_keys",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_asp_net_role_claims_role_id",
                table: "AspNetRoleClaims",
                column: "role_id");

            migrationBuilder.CreateIndex(
                name: "RoleNameIndex",
                table: "AspNetRoles",
                column: "normalized_name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_asp_net_user_claims_user_id",
                table: "AspNetUserClaims",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_asp_net_user_logins_user_id",
                table: "AspNetUserLogins",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_asp_net_user_roles_role_id",
                table: "AspNetUserRoles",
                column: "role_id");

            migrationBuilder.CreateIndex(
                name: "EmailIndex",
                table: "AspNetUsers",
                column: "normalized_email");

            migrationBuilder.CreateIndex(
                name: "UserNameIndex",
                table: "AspNetUsers",
                column: "normalized_user_name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_audit_log_action_created_utc",
                table: "audit_log",
                columns: new[] { "action", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_audit_log_created_utc",
                table: "audit_log",
                column: "created_utc");

            migrationBuilder.CreateIndex(
                name: "ix_audit_log_tenant_id_created_utc",
                table: "audit_log",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_budget_counters_tenant_id_period_start_utc",
                table: "budget_counters",
                columns: new[] { "tenant_id", "period_start_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_budgets_tenant_id_scope_key_period",
                table: "budgets",
                columns: new[] { "tenant_id", "scope", "key", "period" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_conversation_messages_conversation_id_sequence_variant",
                table: "conversation_messages",
                columns: new[] { "conversation_id", "sequence", "variant" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_conversation_messages_tenant_id",
                table: "conversation_messages",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_conversations_tenant_id_user_id_updated_utc",
                table: "conversations",
                columns: new[] { "tenant_id", "user_id", "updated_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_eval_examples_source_call_id",
                table: "eval_examples",
                column: "source_call_id");

            migrationBuilder.CreateIndex(
                name: "ix_eval_examples_tenant_id_eval_set_created_utc",
                table: "eval_examples",
                columns: new[] { "tenant_id", "eval_set", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_exact_cache_entries_expires_utc",
                table: "exact_cache_entries",
                column: "expires_utc");

            migrationBuilder.CreateIndex(
                name: "ix_feedback_tenant_id_created_utc",
                table: "feedback",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_feedback_tenant_id_trace_id",
                table: "feedback",
                columns: new[] { "tenant_id", "trace_id" });

            migrationBuilder.CreateIndex(
                name: "ix_idempotency_records_expires_utc",
                table: "idempotency_records",
                column: "expires_utc");

            migrationBuilder.CreateIndex(
                name: "ix_invoice_lines_period_start_utc",
                table: "invoice_lines",
                column: "period_start_utc");

            migrationBuilder.CreateIndex(
                name: "ix_invoice_lines_tenant_id_period_start_utc",
                table: "invoice_lines",
                columns: new[] { "tenant_id", "period_start_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_cost_micros_id",
                table: "llm_calls",
                columns: new[] { "cost_micros", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_created_utc",
                table: "llm_calls",
                column: "created_utc");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_ingested_utc",
                table: "llm_calls",
                column: "ingested_utc");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_latency_ms_id",
                table: "llm_calls",
                columns: new[] { "latency_ms", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_replay_of_call_id_created_utc",
                table: "llm_calls",
                columns: new[] { "replay_of_call_id", "created_utc" },
                filter: "replay_of_call_id IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_cost_micros_id",
                table: "llm_calls",
                columns: new[] { "tenant_id", "cost_micros", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_created_utc",
                table: "llm_calls",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_end_user_created_utc",
                table: "llm_calls",
                columns: new[] { "tenant_id", "end_user", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_feature_created_utc",
                table: "llm_calls",
                columns: new[] { "tenant_id", "feature", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_tenant_id_latency_ms_id",
                table: "llm_calls",
                columns: new[] { "tenant_id", "latency_ms", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_llm_calls_trace_id",
                table: "llm_calls",
                column: "trace_id");

            migrationBuilder.CreateIndex(
                name: "ix_llm_traces_search_vector",
                table: "llm_traces",
                column: "search_vector")
                .Annotation("Npgsql:IndexMethod", "GIN");

            migrationBuilder.CreateIndex(
                name: "ix_llm_traces_tenant_id_created_utc",
                table: "llm_traces",
                columns: new[] { "tenant_id", "created_utc" });

            migrationBuilder.CreateIndex(
                name: "ix_memberships_tenant_id_user_id",
                table: "memberships",
                columns: new[] { "tenant_id", "user_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_memberships_user_id",
                table: "memberships",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_model_prices_provider_model_effective_from_utc",
                table: "model_prices",
                columns: new[] { "provider", "model", "effective_from_utc" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_plans_name",
                table: "plans",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_prompt_activations_prompt_id_tenant_id_id",
                table: "prompt_activations",
                columns: new[] { "prompt_id", "tenant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_prompt_activations_tenant_id",
                table: "prompt_activations",
                column: "tenant_id");

            migrationBuilder.CreateIndex(
                name: "ix_prompt_activations_version_id",
                table: "prompt_activations",
                column: "version_id");

            migrationBuilder.CreateIndex(
                name: "ix_prompt_versions_prompt_id_number",
                table: "prompt_versions",
                columns: new[] { "prompt_id", "number" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_prompts_name",
                table: "prompts",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_provider_credentials_tenant_id_provider",
                table: "provider_credentials",
                columns: new[] { "tenant_id", "provider" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_saved_trace_searches_user_id_name",
                table: "saved_trace_searches",
                columns: new[] { "user_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_tenants_plan_id",
                table: "tenants",
                column: "plan_id");

            migrationBuilder.CreateIndex(
                name: "ix_tenants_slug",
                table: "tenants",
                column: "slug",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_rollups_day_reads",
                table: "usage_rollups",
                columns: new[] { "grain", "bucket_start_utc", "tenant_id", "billed_to", "feature", "alias", "provider", "model", "cost_micros", "calls", "errors", "fallbacks", "cache_hits", "saved_cost_micros", "latency_ms_sum", "lat0", "lat1", "lat2", "lat3", "lat4", "lat5", "lat6", "lat7", "lat8", "lat9" },
                filter: "grain = 'Day'");

            migrationBuilder.CreateIndex(
                name: "ux_usage_rollups_key",
                table: "usage_rollups",
                columns: new[] { "tenant_id", "grain", "bucket_start_utc", "feature", "alias", "provider", "model", "billed_to" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_user_daily_day_utc_tenant_id",
                table: "usage_user_daily",
                columns: new[] { "day_utc", "tenant_id" });

            migrationBuilder.CreateIndex(
                name: "ux_usage_user_daily_key",
                table: "usage_user_daily",
                columns: new[] { "tenant_id", "day_utc", "user_id", "end_user", "feature", "model", "billed_to" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "api_keys");

            migrationBuilder.DropTable(
                name: "AspNetRoleClaims");

            migrationBuilder.DropTable(
                name: "AspNetUserClaims");

            migrationBuilder.DropTable(
                name: "AspNetUserLogins");

            migrationBuilder.DropTable(
                name: "AspNetUserRoles");

            migrationBuilder.DropTable(
                name: "AspNetUserTokens");

            migrationBuilder.DropTable(
                name: "audit_log");

            migrationBuilder.DropTable(
                name: "budget_counters");

            migrationBuilder.DropTable(
                name: "budget_settings");

            migrationBuilder.DropTable(
                name: "conversation_messages");

            migrationBuilder.DropTable(
                name: "eval_examples");

            migrationBuilder.DropTable(
                name: "exact_cache_entries");

            migrationBuilder.DropTable(
                name: "feedback");

            migrationBuilder.DropTable(
                name: "idempotency_records");

            migrationBuilder.DropTable(
                name: "invoice_lines");

            migrationBuilder.DropTable(
                name: "llm_traces");

            migrationBuilder.DropTable(
                name: "memberships");

            migrationBuilder.DropTable(
                name: "model_prices");

            migrationBuilder.DropTable(
                name: "prompt_activations");

            migrationBuilder.DropTable(
                name: "provider_credentials");

            migrationBuilder.DropTable(
                name: "rollup_state");

            migrationBuilder.DropTable(
                name: "saved_trace_searches");

            migrationBuilder.DropTable(
                name: "tenant_model_policies");

            migrationBuilder.DropTable(
                name: "trace_retention_policies");

            migrationBuilder.DropTable(
                name: "usage_rollups");

            migrationBuilder.DropTable(
                name: "usage_user_daily");

            migrationBuilder.DropTable(
                name: "AspNetRoles");

            migrationBuilder.DropTable(
                name: "budgets");

            migrationBuilder.DropTable(
                name: "conversations");

            migrationBuilder.DropTable(
                name: "llm_calls");

            migrationBuilder.DropTable(
                name: "AspNetUsers");

            migrationBuilder.DropTable(
                name: "prompt_versions");

            migrationBuilder.DropTable(
                name: "tenants");

            migrationBuilder.DropTable(
                name: "prompts");

            migrationBuilder.DropTable(
                name: "plans");
        }
    }
}
