using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// The binding of <c>webhooks.task-events</c> to <c>task-events</c>. A task event copied into that durable queue costs
/// the broker a persistent write and ServiceC a delivery, a read of the tenant's endpoints and an ack, five times a
/// task, whether or not the tenant has an endpoint (measured in a burst with no endpoint: half of the broker's CPU per
/// task and nearly all of ServiceC's). So the queue is bound only while an enabled endpoint exists.
/// <list type="bullet">
/// <item>Every process's topology binds it (<see cref="RabbitMqTopology"/>): when nothing is known, events are kept.</item>
/// <item>ServiceC unbinds it when it reads no enabled endpoint (<see cref="ReconcileAsync"/>, every second; it talks to
/// the broker only when what it reads differs from what it set, and sets it again every 30 s).</item>
/// <item>The API binds it after committing an endpoint that receives events, before it answers (<see cref="OpenAsync"/>).</item>
/// </list>
/// ServiceC's read and unbind and the API's bind run under one transaction-scoped advisory lock, so an unbind decided
/// on a read that missed a committed endpoint always comes before that endpoint's bind, never after it.
/// The binding goes with the listener <see cref="ListenerName"/> (<see cref="TaskEventDemand"/>): registered before every
/// bind (the API's under the lock, committed before its bind), removed with ServiceC's unbind, in its transaction.
/// Without it task events are not published at all.
/// </summary>
public sealed class WebhookEventRouting(AppDbContext db, IServiceProvider services) : IWebhookEventRouting
{
    /// <summary>The advisory lock key ("WEBHOOKS" in ASCII).</summary>
    public const long LockKey = 0x5745_4248_4F4F_4B53;

    /// <summary>The row of <c>EventListeners</c> that keeps task events published while an endpoint is enabled (no lease: removed with the binding).</summary>
    public const string ListenerName = "webhooks";

    public Task OpenAsync(CancellationToken cancellationToken) =>
        // The API's context retries transient failures, which requires its own transactions to run in the strategy.
        db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            // The listener is registered under the lock and committed on its own: a broker call that fails below does
            // not take it back (events are then published and wait for the relay). The bind comes after any unbind
            // ServiceC decided under the lock before this took it.
            await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
            {
                await LockAsync(cancellationToken);
                await TaskEventDemand.RegisterAsync(db, ListenerName, lease: null, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }

            await BindAsync(bound: true, cancellationToken);

            // Before the answer: an event decided without the listener has committed by then.
            await TaskEventDemand.WaitForUndecidedAsync(db, cancellationToken);
        });

    public Task<bool> ReconcileAsync(bool? known, CancellationToken cancellationToken) =>
        db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            // Binding is always safe and needs no lock; only the unbind must not overtake the API's bind.
            var any = await AnyEnabledAsync(cancellationToken);
            if (any == known)
            {
                return any;
            }

            if (any)
            {
                await TaskEventDemand.EnsureAsync(db, ListenerName, lease: null, cancellationToken);
                await BindAsync(bound: true, cancellationToken);
                return true;
            }

            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            await LockAsync(cancellationToken);

            // Read again under the lock: every endpoint committed before an API bind that waits on this lock is seen.
            any = await AnyEnabledAsync(cancellationToken);
            if (any)
            {
                await TaskEventDemand.RegisterAsync(db, ListenerName, lease: null, cancellationToken);
            }
            else
            {
                await TaskEventDemand.RemoveAsync(db, ListenerName, cancellationToken);
            }

            await BindAsync(any, cancellationToken);
            try
            {
                await transaction.CommitAsync(cancellationToken);
            }
            catch (Exception) when (!any)
            {
                // The lock may have been lost before the unbind landed (the session died): an API bind may have come
                // first, and the unbind undone it. Binding again is always safe.
                await BindAsync(bound: true, CancellationToken.None);
                throw;
            }

            return any;
        });

    private Task<bool> AnyEnabledAsync(CancellationToken cancellationToken) =>
        db.WebhookEndpoints.AnyAsync(e => e.Enabled, cancellationToken);

    private Task LockAsync(CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({LockKey})", cancellationToken);

    private async Task BindAsync(bool bound, CancellationToken cancellationToken)
    {
        // Resolved here: the API starts, and its webhook calls answer, while the broker is down.
        await using var channel = await services.GetRequiredService<IConnection>().CreateChannelAsync(cancellationToken: cancellationToken);
        await RabbitMqTopology.DeclareTaskEventsAsync(channel, cancellationToken);
        if (bound)
        {
            await channel.QueueBindAsync(Queues.WebhookTaskEvents, Queues.TaskEvents, RabbitMqTopology.WebhookEventsBindingKey, cancellationToken: cancellationToken);
        }
        else
        {
            await channel.QueueUnbindAsync(Queues.WebhookTaskEvents, Queues.TaskEvents, RabbitMqTopology.WebhookEventsBindingKey, cancellationToken: cancellationToken);
        }
    }
}
