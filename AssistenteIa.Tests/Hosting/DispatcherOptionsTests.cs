using AssistenteIaApi.ServiceC.Worker.Dispatching;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Hosting;

/// <summary>The outbox's retention keeps the event rows that refuse stale saves for longer than any save waits.</summary>
public sealed class DispatcherOptionsTests
{
    [Theory]
    [InlineData("00:10:00")]
    [InlineData("23:59:59")]
    public void A_retention_shorter_than_a_day_is_refused(string retention)
    {
        var error = Assert.Throws<OptionsValidationException>(() => Options(retention).Value);
        Assert.Contains("Dispatcher:OutboxRetention", error.Message);
    }

    [Fact]
    public void A_retention_of_a_day_or_more_is_taken() => Assert.Equal(TimeSpan.FromDays(1), Options("1.00:00:00").Value.OutboxRetention);

    [Fact]
    public void A_backlog_requeue_age_shorter_than_the_requeue_age_is_refused()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Options(requeueAfter: "00:10:00", behindBacklogAfter: "00:05:00").Value);
        Assert.Contains("Dispatcher:RequeueBehindBacklogAfter", error.Message);
        Assert.Equal(TimeSpan.FromMinutes(10), Options(requeueAfter: "00:10:00", behindBacklogAfter: "00:10:00").Value.RequeueBehindBacklogAfter);
    }

    [Theory]
    [InlineData("Dispatcher:PollInterval", "00:00:00")]
    [InlineData("Dispatcher:HousekeepingInterval", "00:00:00")]
    [InlineData("Dispatcher:RequeueQueuedAfter", "00:00:00")]
    [InlineData("Dispatcher:RequeueMaxPerRound", "20000")]
    public void Settings_that_would_stop_the_loop_or_flood_the_outbox_are_refused_at_start(string key, string value)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [key] = value });
        builder.AddDispatcher();
        var error = Assert.Throws<OptionsValidationException>(() => builder.Services.BuildServiceProvider().GetRequiredService<IOptions<DispatcherOptions>>().Value);
        Assert.Contains(key.Split(':')[1], error.Message);
    }

    private static IOptions<DispatcherOptions> Options(string retention = "7.00:00:00", string requeueAfter = "00:05:00", string behindBacklogAfter = "00:20:00")
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dispatcher:OutboxRetention"] = retention,
            ["Dispatcher:RequeueQueuedAfter"] = requeueAfter,
            ["Dispatcher:RequeueBehindBacklogAfter"] = behindBacklogAfter,
        });
        builder.AddDispatcher();
        return builder.Services.BuildServiceProvider().GetRequiredService<IOptions<DispatcherOptions>>();
    }
}
