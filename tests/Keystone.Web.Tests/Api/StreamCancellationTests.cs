using System.Text;
using Keystone.Data.Calls;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary>A caller that goes away mid-stream cancels the upstream call, which is recorded as cancelled.</summary>
public sealed class StreamCancellationTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    [Fact]
    public async Task Post_CallerDisconnectsMidStream_CallIsRecordedCancelled()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var marker = "cancel-" + Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            // Two tokens a second: the answer would take far longer than this test.
            Content = new StringContent($$"""{"model":"fast","stream":true,"messages":[{"role":"user","content":"slow please [sim:slow=0][sim:tps=2]"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Keystone-Feature", marker);
        using var abort = new CancellationTokenSource();

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abort.Token);
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        var stream = await response.Content.ReadAsStreamAsync(abort.Token);
        var buffer = new byte[256];
        Assert.True(await stream.ReadAsync(buffer, abort.Token) > 0);
        await abort.CancelAsync();
        response.Dispose();

        // The gateway records the call once it observes the cancellation; wait for that row (bounded).
        LlmCall? call = null;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (call is null && DateTime.UtcNow < deadline)
        {
            await fixture.FlushCallsAsync();
            await using var db = fixture.App.CreateSystemDb();
            call = await db.Calls.AsNoTracking().SingleOrDefaultAsync(c => c.TraceId == traceId);
            if (call is null)
            {
                await Task.Delay(50);
            }
        }

        Assert.NotNull(call);
        Assert.Equal(CallStatus.Cancelled, call.Status);
        Assert.Equal(marker, call.Feature);
    }
}
