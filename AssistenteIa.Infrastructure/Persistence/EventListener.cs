namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>
/// A row of <c>EventListeners</c>: something that wants task events on the broker's <c>task-events</c> exchange until
/// <see cref="Until"/> (an API instance with Server-Sent Events streams open, ServiceC while a webhook endpoint is enabled,
/// an operator's own consumer). While no row is live, a task event is stored (the streams replay it, the history keeps it)
/// but not published: its outbox row is written already sent (<c>SentAt = CreatedAt</c>, <c>PublishAttempts = 0</c>).
/// See <see cref="TaskEventDemand"/>.
/// </summary>
public sealed class EventListener
{
    private EventListener()
    {
    }

    public string Name { get; private set; } = "";

    /// <summary>The end of the lease; <c>infinity</c> for a listener removed explicitly.</summary>
    public DateTimeOffset Until { get; private set; }

    public DateTimeOffset RegisteredAt { get; private set; }
}
