using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// The bindings of <c>webhooks.task-events</c> to <c>task-events</c>. A task event copied into that durable queue costs
/// the broker a persistent write and ServiceC a delivery, a read of the tenant's endpoints and an ack, five times a
/// task, whether or not the tenant has an endpoint (measured in a burst with no endpoint: half of the broker's CPU per
/// task and nearly all of ServiceC's), and whether or not any endpoint takes that event's type. So the queue is bound by
/// the routing key of each type some enabled endpoint subscribes to, and by no other.
/// <list type="bullet">
/// <item>Every process's topology declares the queue (<see cref="RabbitMqTopology"/>) and binds nothing: a bind on every
/// channel a process opens would copy every event again until ServiceC's next full reconcile.</item>
/// <item>ServiceC binds the types enabled endpoints take and unbinds the rest (<c>task.#</c> included) (<see
/// cref="ReconcileAsync"/>, every second; it talks to the broker only when what it reads differs from what it set, and
/// sets it all again every 30 s).</item>
/// <item>The API binds an endpoint's types after committing the endpoint, before it answers (<see cref="OpenAsync"/>).</item>
/// </list>
/// ServiceC's read and unbinds and the API's binds run under one transaction-scoped advisory lock, so an unbind decided
/// on a read that missed a committed endpoint always comes before that endpoint's bind, never after it. (Binding alone
/// needs no lock: ServiceC binds without it when it only adds types.)
/// The bindings go with the listener <see cref="ListenerName"/> (<see cref="TaskEventDemand"/>): registered before every
/// bind (the API's under the lock, committed before its bind), removed with ServiceC's last unbind, in its transaction.
/// Without it task events are not published at all.
/// </summary>
public sealed class WebhookEventRouting(AppDbContext db, IServiceProvider services) : IWebhookEventRouting
{
    /// <summary>The advisory lock key ("WEBHOOKS" in ASCII).</summary>
    public const long LockKey = 0x5745_4248_4F4F_4B53;

    /// <summary>The row of <c>EventListeners</c> that keeps task events published while an endpoint is enabled (no lease: removed with the bindings).</summary>
    public const string ListenerName = "webhooks";

    /// <summary>
    /// The routing keys the queue may be bound by: the event types a webhook can subscribe to. A type stored outside
    /// them (by hand, or by another build) is never bound: a tenant's row must not choose the broker's routing.
    /// </summary>
    private static readonly IReadOnlySet<string> Bindable = WebhooksHandler.EventTypes.ToHashSet(StringComparer.Ordinal);

    public Task OpenAsync(IReadOnlyCollection<string> eventTypes, CancellationToken cancellationToken) =>
        // The API's context retries transient failures, which requires its own transactions to run in the strategy.
        db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            // The listener is registered under the lock and committed on its own: a broker call that fails below does
            // not take it back (events are then published and wait for the relay). The binds come after any unbind
            // ServiceC decided under the lock before this took it.
            await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
            {
                await LockAsync(cancellationToken);
                await TaskEventDemand.RegisterAsync(db, ListenerName, lease: null, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }

            await BindAsync(eventTypes.Where(Bindable.Contains), [], cancellationToken);

            // Before the answer: an event decided without the listener has committed by then.
            await TaskEventDemand.WaitForUndecidedAsync(db, cancellationToken);
        });

    public Task<IReadOnlySet<string>> ReconcileAsync(IReadOnlySet<string>? known, CancellationToken cancellationToken) =>
        db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            var wanted = await SubscribedAsync(cancellationToken);
            if (known is not null && wanted.SetEquals(known))
            {
                return wanted;
            }

            if (known is not null && wanted.Count > 0 && wanted.IsSupersetOf(known))
            {
                // Only more copies: binding is always safe and needs no lock.
                await TaskEventDemand.EnsureAsync(db, ListenerName, lease: null, cancellationToken);
                await BindAsync(wanted, [], cancellationToken);
                return wanted;
            }

            // Some copies stop, or what is bound is not known: only the unbinds must not overtake the API's binds.
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            await LockAsync(cancellationToken);

            // Read again under the lock: every endpoint committed before an API bind that waits on this lock is seen.
            wanted = await SubscribedAsync(cancellationToken);
            if (wanted.Count > 0)
            {
                await TaskEventDemand.RegisterAsync(db, ListenerName, lease: null, cancellationToken);
            }
            else
            {
                await TaskEventDemand.RemoveAsync(db, ListenerName, cancellationToken);
            }

            await BindAsync(wanted, [RabbitMqTopology.WebhookEventsBindingKey, .. Bindable.Except(wanted)], cancellationToken);
            try
            {
                await transaction.CommitAsync(cancellationToken);
            }
            catch (Exception)
            {
                // The lock may have been lost before the unbinds landed (the session died): an API bind may have come
                // first, and an unbind undone it. Copying every event again is always safe; the next reconcile narrows it.
                await BindAsync([RabbitMqTopology.WebhookEventsBindingKey], [], CancellationToken.None);
                throw;
            }

            return wanted;
        });

    /// <summary>The event types the enabled endpoints subscribe to, among those that may be bound.</summary>
    private async Task<IReadOnlySet<string>> SubscribedAsync(CancellationToken cancellationToken)
    {
        var types = await db.WebhookEndpoints.Where(e => e.Enabled).SelectMany(e => e.Events).Distinct().ToListAsync(cancellationToken);
        return types.Where(Bindable.Contains).ToHashSet(StringComparer.Ordinal);
    }

    private Task LockAsync(CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({LockKey})", cancellationToken);

    private async Task BindAsync(IEnumerable<string> bind, IEnumerable<string> unbind, CancellationToken cancellationToken)
    {
        // Resolved here: the API starts, and its webhook calls answer, while the broker is down.
        await using var channel = await services.GetRequiredService<IConnection>().CreateChannelAsync(cancellationToken: cancellationToken);
        await RabbitMqTopology.DeclareTaskEventsAsync(channel, cancellationToken);

        // The binds first: a type that stays copied is copied throughout, task.# unbound only once it is bound on its own.
        foreach (var key in bind)
        {
            await channel.QueueBindAsync(Queues.WebhookTaskEvents, Queues.TaskEvents, key, cancellationToken: cancellationToken);
        }

        foreach (var key in unbind)
        {
            await channel.QueueUnbindAsync(Queues.WebhookTaskEvents, Queues.TaskEvents, key, cancellationToken: cancellationToken);
        }
    }
}
