using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Binds a subscription's private queue to its exchange only while something wants the messages
/// (<see cref="Acquire"/> / <see cref="Release"/>), and unbinds it <paramref name="linger"/> after the last one went
/// (counted from the last release: a page reloading does not flap the binding). The subscription declares the queue
/// unbound and hands it here on every (re)subscribe (<see cref="AttachAsync"/>), which binds it again when it is wanted.
/// Every bind, unbind and channel change happens under one lock, so a decision is never made on a channel or a demand
/// that changed meanwhile. After each bind <paramref name="onBound"/> runs: what was published before the bind never
/// reached the queue. A bind or unbind that fails on a channel still open is tried again every
/// <see cref="RetryDelay"/>; one on a channel that closed is left to the next subscribe. With a <paramref name="listener"/>,
/// it is registered before each bind and removed after the unbind (what is bound to is published only while someone
/// listens), and <see cref="RenewListenerAsync"/> keeps it registered while bound.
/// </summary>
public sealed class OnDemandBinding(
    string exchange, IReadOnlyList<string> routingKeys, TimeSpan linger, Action onBound, TimeProvider clock, ILogger<OnDemandBinding> logger,
    IBindingListener? listener = null)
    : ILiveEventFeed, IDisposable
{
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _lock = new(1, 1);
    private int _demand;
    private long _generation;
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
        // A new generation: an unbind waiting out its linger no longer applies.
        Interlocked.Increment(ref _generation);
        if (Interlocked.Increment(ref _demand) == 1)
        {
            Volatile.Write(ref _settling, SettleAsync());
        }
    }

    public void Release()
    {
        var generation = Interlocked.Increment(ref _generation);
        if (Interlocked.Decrement(ref _demand) == 0)
        {
            Volatile.Write(ref _settling, SettleLaterAsync(generation));
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

    /// <summary>
    /// Renews the listener's registration while bound; when it had lapsed (a database outage longer than its lease),
    /// registers it again and runs <c>onBound</c>: what was written meanwhile was not published, the streams read it.
    /// </summary>
    public async Task RenewListenerAsync(CancellationToken cancellationToken)
    {
        if (listener is null)
        {
            return;
        }

        await _lock.WaitAsync(cancellationToken);
        try
        {
            if (_bound && await listener.EnsureAsync(cancellationToken))
            {
                logger.LogWarning("The event listener of queue {Queue} had lapsed; registered again, the streams catch up from the database", _queue);
                onBound();
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>At the host's end, after the subscription stopped; a change still waiting ends without touching the broker.</summary>
    public void Dispose() => _lock.Dispose();

    private async Task SettleLaterAsync(long generation)
    {
        await Task.Delay(linger, clock);
        if (Interlocked.Read(ref _generation) == generation)
        {
            await SettleAsync();
        }
    }

    /// <summary>
    /// Brings the binding to what the demand is now, trying again while the channel stays open (the first failure is a
    /// warning, the retries that follow debug lines).
    /// </summary>
    private async Task SettleAsync()
    {
        for (var failures = 0; ; failures++)
        {
            IChannel? channel = null;
            try
            {
                await _lock.WaitAsync();
            }
            catch (ObjectDisposedException)
            {
                // The host stopped meanwhile.
                return;
            }

            try
            {
                channel = _channel;
                await ApplyAsync(wanted: Volatile.Read(ref _demand) > 0, force: false, CancellationToken.None);
                return;
            }
            catch (Exception ex)
            {
                var open = channel is { IsOpen: true };
                logger.Log(
                    failures == 0 ? LogLevel.Warning : LogLevel.Debug,
                    ex,
                    "Could not {Action} queue {Queue} to {Exchange}; {Next}", Volatile.Read(ref _demand) > 0 ? "bind" : "unbind", _queue, exchange,
                    open ? $"trying again in {RetryDelay}" : "the next subscribe decides again");
                if (!open)
                {
                    return;
                }
            }
            finally
            {
                _lock.Release();
            }

            await Task.Delay(RetryDelay, clock);
        }
    }

    private async Task ApplyAsync(bool wanted, bool force, CancellationToken cancellationToken)
    {
        if (_channel is not { IsOpen: true } channel || _queue is not { } queue || (!force && wanted == _bound))
        {
            return;
        }

        if (wanted && listener is not null)
        {
            await listener.EnsureAsync(cancellationToken);
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
        if (!wanted && listener is not null)
        {
            try
            {
                await listener.RemoveAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The row lapses with its lease: events are published for nothing meanwhile, none is lost.
                logger.LogWarning(ex, "Could not remove the event listener of queue {Queue}; it lapses with its lease", queue);
            }
        }

        if (wanted)
        {
            onBound();
        }
    }
}
