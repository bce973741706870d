using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Identity;
using Keystone.Web.Features.Approvals;
using Keystone.Web.Tests.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Approvals;

/// <summary><c>/api/v1/approvals</c>: the inbox through an admin key, for tenants who approve in their own product.</summary>
public sealed class ApprovalsApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private async Task<HttpClient> AdminAsync(Guid tenantId, string scopes = "admin")
    {
        var (secret, _) = await fixture.CreateKeyAsync(tenantId, scopes, "approver");
        return fixture.ClientWith(secret);
    }

    private Task<Guid> RequestAsync(Guid tenantId, bool editable = true)
        => fixture.App.Services.GetRequiredService<IApprovalService>().RequestAsync(
            ApprovalTestData.Request(tenantId, DateTime.UtcNow, step: Guid.NewGuid().ToString("N"), editable: editable), CancellationToken.None);

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task ListAndGet_PendingOfTheKeysTenant_ShowTheActionWithItsInputAsJson()
    {
        var admin = await AdminAsync(ApiFixture.Acme);
        var id = await RequestAsync(ApiFixture.Acme);
        var globexOnly = await RequestAsync(ApiFixture.Globex);

        var list = await admin.GetFromJsonAsync<JsonElement>("/api/v1/approvals");
        var one = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/approvals/{id}");

        var ids = list.GetProperty("approvals").EnumerateArray().Select(a => a.GetProperty("id").GetGuid()).ToList();
        Assert.Contains(id, ids);
        Assert.DoesNotContain(globexOnly, ids);
        Assert.Equal(("send_email", "pending", 2_500_000L, true), (one.GetProperty("tool").GetString(), one.GetProperty("status").GetString(),
            one.GetProperty("amountMicros").GetInt64(), one.GetProperty("inputEditable").GetBoolean()));
        Assert.Equal("customer@example.com", one.GetProperty("input").GetProperty("to").GetString());
        Assert.Equal(JsonValueKind.Null, one.GetProperty("editedInput").ValueKind);
        await AssertErrorAsync(await admin.GetAsync($"/api/v1/approvals/{globexOnly}"), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Approve_WithEditedInputAndComment_IsStoredAuditedAsTheKeyAndSecondDecisionIs409()
    {
        var admin = await AdminAsync(ApiFixture.Acme);
        var id = await RequestAsync(ApiFixture.Acme);

        var approved = await admin.PostAsync($"/api/v1/approvals/{id}/approve",
            Json("""{"input":{"to":"customer@example.com","subject":"Refund sent"},"comment":"Subject fixed"}"""));
        var again = await admin.PostAsync($"/api/v1/approvals/{id}/reject", Json("""{"comment":"too late"}"""));

        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        var body = await approved.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("approved", "Subject fixed", "Refund sent"), (body.GetProperty("status").GetString(), body.GetProperty("comment").GetString(),
            body.GetProperty("editedInput").GetProperty("subject").GetString()));
        Assert.StartsWith("API key approver", body.GetProperty("decidedBy").GetString(), StringComparison.Ordinal);
        await AssertErrorAsync(again, HttpStatusCode.Conflict, ApprovalException.AlreadyDecidedCode);
        await using var db = fixture.App.CreateSystemDb();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Target == $"pending_action:{id}");
        Assert.Equal(("approval.approve", "api_key", "member-1"), (audit.Action, audit.ActorType, audit.OnBehalfOf));
    }

    [Fact]
    public async Task ApproveAndReject_WithoutABody_DecideAsProposed()
    {
        var admin = await AdminAsync(ApiFixture.Acme);
        var approveId = await RequestAsync(ApiFixture.Acme);
        var rejectId = await RequestAsync(ApiFixture.Acme);

        var approved = await admin.PostAsync($"/api/v1/approvals/{approveId}/approve", null);
        var rejected = await admin.PostAsync($"/api/v1/approvals/{rejectId}/reject", null);

        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rejected.StatusCode);
        var decided = await admin.GetFromJsonAsync<JsonElement>("/api/v1/approvals?status=decided");
        var statuses = decided.GetProperty("approvals").EnumerateArray().ToDictionary(a => a.GetProperty("id").GetGuid(), a => a.GetProperty("status").GetString());
        Assert.Equal(("approved", "rejected"), (statuses[approveId], statuses[rejectId]));
        var rejectedOnly = await admin.GetFromJsonAsync<JsonElement>("/api/v1/approvals?status=rejected");
        Assert.All(rejectedOnly.GetProperty("approvals").EnumerateArray(), a => Assert.Equal("rejected", a.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task BadRequests_AnswerWithACodeAndChangeNothing()
    {
        var admin = await AdminAsync(ApiFixture.Acme);
        var fixedInput = await RequestAsync(ApiFixture.Acme, editable: false);
        var editable = await RequestAsync(ApiFixture.Acme);

        await AssertErrorAsync(await admin.PostAsync($"/api/v1/approvals/{fixedInput}/approve", Json("""{"input":{"to":"x"}}""")), HttpStatusCode.BadRequest, "invalid_request_error");
        await AssertErrorAsync(await admin.PostAsync($"/api/v1/approvals/{editable}/reject", Json("""{"input":{"to":"x"}}""")), HttpStatusCode.BadRequest, "invalid_request_error");
        await AssertErrorAsync(await admin.PostAsync($"/api/v1/approvals/{editable}/approve", Json("""{"input": """)), HttpStatusCode.BadRequest, "invalid_request_error");
        await AssertErrorAsync(await admin.PostAsync($"/api/v1/approvals/{editable}/approve", Json("""[1]""")), HttpStatusCode.BadRequest, "invalid_request_error");
        await AssertErrorAsync(await admin.PostAsync($"/api/v1/approvals/{Guid.NewGuid()}/approve", null), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await admin.GetAsync("/api/v1/approvals?status=maybe"), HttpStatusCode.BadRequest, "invalid_request_error");

        foreach (var id in new[] { fixedInput, editable })
        {
            Assert.Equal("pending", (await admin.GetFromJsonAsync<JsonElement>($"/api/v1/approvals/{id}")).GetProperty("status").GetString());
        }
    }

    [Fact]
    public async Task Auth_NoKeyOrAKeyWithoutAdmin_IsRefused()
    {
        var id = await RequestAsync(ApiFixture.Acme);
        var chatOnly = await AdminAsync(ApiFixture.Acme, "chat");

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.ClientWith(null).GetAsync("/api/v1/approvals")).StatusCode);
        await AssertErrorAsync(await chatOnly.PostAsync($"/api/v1/approvals/{id}/approve", null), HttpStatusCode.Forbidden, "insufficient_scope");

        var admin = await AdminAsync(ApiFixture.Acme);
        Assert.Equal("pending", (await admin.GetFromJsonAsync<JsonElement>($"/api/v1/approvals/{id}")).GetProperty("status").GetString());
    }
}
