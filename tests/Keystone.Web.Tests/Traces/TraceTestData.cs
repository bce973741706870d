using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Tenancy;
using Keystone.Testing;

namespace Keystone.Web.Tests.Traces;

/// <summary>Builds calls and traces the way the gateway's recorder stores them (redacted text in the searchable columns).</summary>
internal static class TraceTestData
{
    public static readonly Guid PlanId = Guid.Parse("0b7d0f6a-1f2e-4c35-9a6b-0000000000aa");
    public static readonly Guid Acme = Guid.Parse("a0000000-0000-4000-8000-0000000000a1");
    public static readonly Guid Globex = Guid.Parse("a0000000-0000-4000-8000-0000000000b2");
    public static readonly DateTime T0 = new(2026, 11, 1, 12, 0, 0, DateTimeKind.Utc);

    public static async Task SeedTenantsAsync(KeystoneDbFactory factory)
    {
        await using var db = factory.ForSystem();
        db.Plans.Add(new Plan { Id = PlanId, Name = "Test" });
        db.Tenants.AddRange(
            new Tenant { Id = Acme, Name = "Acme", Slug = "acme-t", PlanId = PlanId, CreatedUtc = T0 },
            new Tenant { Id = Globex, Name = "Globex", Slug = "globex-t", PlanId = PlanId, CreatedUtc = T0 });
        await db.SaveChangesAsync();
    }

    /// <summary>A call with its trace; <paramref name="prompt"/> and <paramref name="answer"/> are the redacted texts.</summary>
    public static (LlmCall Call, LlmTrace Trace) Call(Guid tenantId, DateTime createdUtc, string prompt = "Hello there", string answer = "Hi, how can I help?",
        Action<LlmCall>? configure = null, string? rawPrompt = null)
    {
        var call = new LlmCall
        {
            Id = Guid.NewGuid(),
            TraceId = Guid.NewGuid(),
            TenantId = tenantId,
            EndUser = "end-user-1",
            Feature = "chat",
            Alias = "smart",
            Provider = "simulated",
            Model = "sim-large",
            InputTokens = 12,
            OutputTokens = 30,
            CostMicros = 1_000,
            CostStatus = CostStatus.Exact,
            BilledTo = BilledTo.Platform,
            CacheStatus = CacheStatus.None,
            Attempts = 1,
            Status = CallStatus.Ok,
            LatencyMs = 400,
            CreatedUtc = createdUtc,
        };
        configure?.Invoke(call);
        var request = $$"""{"model":"{{call.Alias}}","messages":[{"role":"system","content":"You are a support bot."},{"role":"user","content":{{System.Text.Json.JsonSerializer.Serialize(prompt)}}}],"temperature":0.2,"maxTokens":256}""";
        var response = $$"""{"text":{{System.Text.Json.JsonSerializer.Serialize(answer)}},"finishReason":"stop"}""";
        var trace = new LlmTrace
        {
            CallId = call.Id,
            TenantId = tenantId,
            RequestJson = request,
            ResponseJson = response,
            RawRequestJson = rawPrompt is null ? request : request.Replace(prompt, rawPrompt, StringComparison.Ordinal),
            RawResponseJson = response,
            AttemptsJson = """[{"provider":"simulated","model":"sim-large","outcome":"ok","statusCode":200,"error":null,"durationMs":390}]""",
            SearchText = prompt + "\n" + answer,
            RedactionCount = rawPrompt is null ? 0 : 1,
            CreatedUtc = createdUtc,
        };
        return (call, trace);
    }

    public static async Task AddAsync(KeystoneDbFactory factory, params (LlmCall Call, LlmTrace Trace)[] rows)
    {
        await using var db = factory.ForSystem();
        db.Calls.AddRange(rows.Select(r => r.Call));
        db.Traces.AddRange(rows.Select(r => r.Trace));
        await db.SaveChangesAsync();
    }

    /// <summary>The request/circuit factory, scoped like the console scopes a signed-in caller.</summary>
    public static Microsoft.EntityFrameworkCore.IDbContextFactory<KeystoneDbContext> Scoped(KeystoneDbFactory factory, TenantScope scope)
        => new ScopedKeystoneDbContextFactory(factory, new FixedTenantContext(scope));
}
