namespace AssistenteIa.Tests.Integration;

/// <summary>
/// What the tests read of a task's stored events, one row per event also where the events of one save share an outbox
/// row (<see cref="Application.Tasks.TaskEventRows"/>).
/// </summary>
internal static class StoredTaskEvents
{
    /// <summary>
    /// A subquery of the task events, one row per event: the outbox row's <c>Id</c>, <c>TaskId</c>, <c>TenantId</c>,
    /// <c>SentAt</c>, <c>AdvanceImplied</c>, and the event's name (<c>Event</c>) and <c>Sequence</c>.
    /// </summary>
    public const string Expanded = """
        (SELECT o."Id", o."TaskId", o."TenantId", o."SentAt", o."AdvanceImplied",
                COALESCE(e.value->>'event', substr(o."MessageType", 6)) AS "Event",
                COALESCE((e.value->>'sequence')::bigint, o."EventSequence") AS "Sequence"
         FROM "OutboxMessages" o
         LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN o."MessageType" = 'task.events-of-one-save' THEN o."PayloadJson"::jsonb -> 'events' END) AS e ON true
         WHERE o."Destination" = 'task-events')
        """;

    /// <summary>The names of the task's stored events in order, joined by commas (<c>created,queued,…</c>).</summary>
    public static Task<string> NamesAsync(string connectionString, Guid taskId) => Sql.ScalarAsync<string>(
        connectionString, $"""SELECT COALESCE(string_agg("Event", ',' ORDER BY "Sequence"), '') FROM {Expanded} AS e WHERE e."TaskId" = @p0""", taskId);

    /// <summary>The sequences of the task's stored events in order.</summary>
    public static Task<long[]> SequencesAsync(string connectionString, Guid taskId) => Sql.ScalarAsync<long[]>(
        connectionString, $"""SELECT COALESCE(array_agg("Sequence" ORDER BY "Sequence"), ARRAY[]::bigint[]) FROM {Expanded} AS e WHERE e."TaskId" = @p0""", taskId);
}
