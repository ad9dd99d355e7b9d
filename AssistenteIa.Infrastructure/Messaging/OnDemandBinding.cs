using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Binds a subscription's private queue to its exchange only while something wants the messages
/// (<see cref="Acquire"/> / <see cref="Release"/>), and unbinds it <paramref name="linger"/> after the last one went (a
/// page reloading does not flap the binding). The subscription declares the queue unbound and hands it here on every
/// (re)subscribe (<see cref="AttachAsync"/>), which binds it again when it is wanted. Every bind, unbind and channel
/// change happens under one lock, so a decision is never made on a channel or a demand that changed meanwhile. After
/// each bind <paramref name="onBound"/> runs: what was published before the bind never reached the queue.
/// </summary>
public sealed class OnDemandBinding(
    string exchange, IReadOnlyList<string> routingKeys, TimeSpan linger, Action onBound, TimeProvider clock, ILogger<OnDemandBinding> logger)
    : ILiveEventFeed, IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private int _demand;
    private IChannel? _channel;
    private string? _queue;
    private bool _bound;
    private Task _settling = Task.CompletedTask;

    public string Exchange => exchange;

    /// <summary>Whether the queue is bound now, as far as this instance knows.</summary>
    public bool IsBound => Volatile.Read(ref _bound);

    /// <summary>The latest change of the binding that <see cref="Acquire"/> or <see cref="Release"/> set off (never faults).</summary>
    public Task Settling => Volatile.Read(ref _settling);

    public void Acquire()
    {
        if (Interlocked.Increment(ref _demand) == 1)
        {
            Volatile.Write(ref _settling, SettleAsync());
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _demand) == 0)
        {
            Volatile.Write(ref _settling, SettleLaterAsync());
        }
    }

    /// <summary>
    /// The subscription's new channel and queue: bound when wanted, unbound otherwise (a queue kept across a lost
    /// channel keeps its bindings, so "unbound" is made sure of, not assumed). A failure here fails the subscribe,
    /// which is then tried again.
    /// </summary>
    public async Task AttachAsync(IChannel channel, string queue, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            _channel = channel;
            _queue = queue;
            Volatile.Write(ref _bound, false);
            await ApplyAsync(wanted: Volatile.Read(ref _demand) > 0, force: true, cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();

    private async Task SettleLaterAsync()
    {
        try
        {
            await Task.Delay(linger, clock);
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        await SettleAsync();
    }

    /// <summary>Brings the binding to what the demand is now; a failure is logged (the next subscribe decides again).</summary>
    private async Task SettleAsync()
    {
        try
        {
            await _lock.WaitAsync();
            try
            {
                await ApplyAsync(wanted: Volatile.Read(ref _demand) > 0, force: false, CancellationToken.None);
            }
            finally
            {
                _lock.Release();
            }
        }
        catch (ObjectDisposedException)
        {
            // The host stopped meanwhile.
        }
        catch (Exception ex)
        {
            // The channel is closing or the broker is gone: the subscription subscribes again and attaches its new channel.
            logger.LogWarning(ex, "Could not {Action} queue {Queue} to {Exchange}; the next subscribe decides again", Volatile.Read(ref _demand) > 0 ? "bind" : "unbind", _queue, exchange);
        }
    }

    private async Task ApplyAsync(bool wanted, bool force, CancellationToken cancellationToken)
    {
        if (_channel is not { IsOpen: true } channel || _queue is not { } queue || (!force && wanted == _bound))
        {
            return;
        }

        foreach (var key in routingKeys)
        {
            if (wanted)
            {
                await channel.QueueBindAsync(queue, exchange, key, cancellationToken: cancellationToken);
            }
            else
            {
                await channel.QueueUnbindAsync(queue, exchange, key, cancellationToken: cancellationToken);
            }
        }

        Volatile.Write(ref _bound, wanted);
        logger.LogInformation("Queue {Queue} {State} {Exchange}", queue, wanted ? "bound to" : "unbound from", exchange);
        if (wanted)
        {
            onBound();
        }
    }
}
