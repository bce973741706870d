using Keystone.Gateway.Budgets;
using Keystone.Gateway.Recording;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Keystone.Web.Tests.Hosting;

/// <summary>
/// The host stops its services in the reverse of their start order. A Hangfire job (knowledge embedding, eval run,
/// agent run) can be in the middle of a model call when the host stops: the job server must stop (and let its jobs end)
/// before the call recorder and the budget counters drain, or the job's settled call cannot be recorded (the recorder's
/// queue is closed) and its spend never reaches the call tables.
/// </summary>
public sealed class ShutdownOrderTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    [Fact]
    public void JobServer_StartsAfterAndStopsBefore_TheRecorderAndTheBudgetCounters()
    {
        var services = fixture.App.Services.GetServices<IHostedService>().ToList();
        var jobServer = services.FindIndex(s => s.GetType().Name == "BackgroundJobServerHostedService");
        var recorder = services.FindIndex(s => s is CallRecorder);
        var ledger = services.FindIndex(s => s is BudgetLedger);

        Assert.True(jobServer >= 0 && recorder >= 0 && ledger >= 0, $"job server {jobServer}, recorder {recorder}, ledger {ledger}");
        Assert.True(jobServer > recorder, $"The job server ({jobServer}) must come after the call recorder ({recorder}).");
        Assert.True(jobServer > ledger, $"The job server ({jobServer}) must come after the budget counters ({ledger}).");
    }
}
