using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Whether each <see cref="BrokerSubscription"/> of this process is consuming. The process is not ready while
/// one is down: it would accept nothing from its queue, however healthy the connection looks.
/// </summary>
public sealed class SubscriptionHealth(TimeProvider clock) : IHealthCheck
{
    public const string Name = "broker-subscriptions";

    private readonly ConcurrentDictionary<string, State> _states = new();

    public void Register(string source) => _states.TryAdd(source, new State(false, "not subscribed yet", clock.GetUtcNow()));

    public void Up(string source) => _states[source] = new State(true, null, clock.GetUtcNow());

    public void Down(string source, string reason) => _states[source] = new State(false, reason, clock.GetUtcNow());

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var down = _states.Where(s => !s.Value.Consuming).ToList();
        var data = _states.ToDictionary(s => s.Key, s => (object)(s.Value.Consuming ? "consuming" : $"down since {s.Value.Since:O}: {s.Value.Reason}"));
        return Task.FromResult(down.Count == 0
            ? HealthCheckResult.Healthy("Every subscription is consuming.", data)
            : HealthCheckResult.Unhealthy($"Not consuming: {string.Join(", ", down.Select(d => d.Key))}.", data: data));
    }

    private sealed record State(bool Consuming, string? Reason, DateTimeOffset Since);
}
