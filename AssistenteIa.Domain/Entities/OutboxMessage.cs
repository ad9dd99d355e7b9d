namespace AssistenteIa.Domain.Entities;

/// <summary>
/// A message written in the same transaction as the change it announces (table <c>OutboxMessages</c>);
/// it is published after commit and marked sent, and a relay publishes whatever was left unsent.
/// </summary>
public sealed class OutboxMessage
{
    private OutboxMessage()
    {
    }

    public Guid Id { get; private set; }

    /// <summary>Where it goes: the queue or exchange routing key.</summary>
    public string Destination { get; private set; } = "";
    public string MessageType { get; private set; } = "";
    public string PayloadJson { get; private set; } = "{}";
    public string? CorrelationId { get; private set; }

    /// <summary>W3C trace context of the operation that wrote it, so the trace continues through the broker.</summary>
    public string? TraceParent { get; private set; }
    public byte Priority { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset? SentAt { get; private set; }
    public int PublishAttempts { get; private set; }

    /// <summary>A relay took this row to publish it and others leave it alone until then (no row lock held across the network).</summary>
    public DateTimeOffset? ClaimedUntil { get; private set; }
    public string? LastError { get; private set; }

    /// <summary>
    /// The tenant and task the message is about (null for messages about no task): the event streams replay a
    /// tenant's or a task's recent events by these, consumers filter by them without reading the body, and one
    /// task's messages are published in the order they were written.
    /// </summary>
    public string? TenantId { get; private set; }
    public Guid? TaskId { get; private set; }

    /// <summary>
    /// For a task event, its place in the task's events (1, 2, …): stored events are replayed in this order. A row that
    /// holds the several events of one save has the first one's.
    /// </summary>
    public long? EventSequence { get; private set; }

    /// <summary>
    /// For a task event: the database need not check at commit that the task was advanced to it, because the same save
    /// inserts the task or stores a later row of its events, whose check covers this one. (The check costs a trigger
    /// call per row; a save checks the row of its last event only.)
    /// </summary>
    public bool AdvanceImplied { get; private set; }

    public static OutboxMessage Create(
        string destination, string messageType, string payloadJson, string? correlationId, string? traceParent, byte priority, DateTimeOffset now,
        string? tenantId = null, Guid? taskId = null, long? eventSequence = null, Guid? id = null) => new()
        {
            EventSequence = eventSequence,
            TenantId = tenantId,
            TaskId = taskId,
            Id = id ?? Guid.CreateVersion7(now),
            Destination = destination,
            MessageType = messageType,
            PayloadJson = payloadJson,
            CorrelationId = correlationId,
            TraceParent = traceParent,
            Priority = priority,
            CreatedAt = now,
        };

    /// <summary>When the row with this id was written: ids are version 7 GUIDs, whose first 48 bits are the Unix time in milliseconds.</summary>
    public static DateTimeOffset? WrittenAt(Guid id)
    {
        if (id.Version != 7)
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes, bigEndian: true, out _);
        var milliseconds = 0L;
        for (var i = 0; i < 6; i++)
        {
            milliseconds = (milliseconds << 8) | bytes[i];
        }

        return DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
    }

    /// <summary>The row's events are stored with the task's insert, or before a later row of events of the same save.</summary>
    public void ImplyAdvance() => AdvanceImplied = true;

    public void MarkSent(DateTimeOffset now)
    {
        SentAt = now;
        PublishAttempts++;
        LastError = null;
        ClaimedUntil = null;
    }

    /// <summary>The publish failed: the row stays unsent and free for the next relay round.</summary>
    public void MarkFailed(string error)
    {
        PublishAttempts++;
        LastError = Texts.Fit(error, 2000);
        ClaimedUntil = null;
    }
}
