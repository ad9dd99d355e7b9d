namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>
/// The database's own check that a task's event row is stored only with the change of the task it announces: at commit
/// (a deferred constraint trigger, so the order of a batch's statements does not matter, and an implicit transaction
/// is checked as an explicit one is), the task must have been advanced to that event (<c>Tasks.EventSequence</c>; for a
/// row that holds the events of one save, to its last: <see cref="RowsLastEventSql"/>).
/// A save whose version check found the task changed updates no row, which is no error; without a transaction the
/// batch's other rows would commit (<see cref="AppDbContext.SaveInOneRoundTripAsync"/>). The unique event numbers refuse
/// that save when the change it missed recorded an event; this refuses it when the change recorded none (an operator's
/// <c>UPDATE</c>, a restored row): the task's sequence is then still below the save's first event.
/// </summary>
public static class TaskEventGuard
{
    /// <summary>Named in the error the check raises (SQLSTATE 23000), which the context reports as a conflict.</summary>
    public const string ConstraintName = "OutboxMessages_TaskEventAdvancesTask";

    public const string CreateSql = """
        CREATE FUNCTION outbox_task_event_advances_task() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM "Tasks" WHERE "Id" = NEW."TaskId" AND "EventSequence" >= NEW."EventSequence") THEN
                RAISE EXCEPTION 'The event % of task % is stored without the change of the task it announces.', NEW."EventSequence", NEW."TaskId"
                    USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'OutboxMessages_TaskEventAdvancesTask';
            END IF;
            RETURN NULL;
        END $$;

        CREATE CONSTRAINT TRIGGER "OutboxMessages_TaskEventAdvancesTask" AFTER INSERT ON "OutboxMessages"
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW."Destination" = 'task-events' AND NEW."TaskId" IS NOT NULL AND NEW."EventSequence" IS NOT NULL)
        EXECUTE FUNCTION outbox_task_event_advances_task();
        """;

    /// <summary>
    /// The check for the rows whose advance no other row of their save implies (<c>AdvanceImplied</c>): one per save
    /// of a task, the row of its last event, and none when the save inserts the task. Checking every event of a save checks no more,
    /// since the task's sequence reaching the last one reaches the others.
    /// </summary>
    public static readonly string LastEventOnlySql = Recreated("""AND NOT NEW."AdvanceImplied" """);

    /// <summary>The check on every task event again, as <see cref="CreateSql"/> made it.</summary>
    public static readonly string EveryEventSql = Recreated("");

    private static string Recreated(string alsoWhen) => $"""
        DROP TRIGGER "OutboxMessages_TaskEventAdvancesTask" ON "OutboxMessages";
        CREATE CONSTRAINT TRIGGER "OutboxMessages_TaskEventAdvancesTask" AFTER INSERT ON "OutboxMessages"
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW."Destination" = 'task-events' AND NEW."TaskId" IS NOT NULL AND NEW."EventSequence" IS NOT NULL {alsoWhen})
        EXECUTE FUNCTION outbox_task_event_advances_task();
        """;

    /// <summary>
    /// The check for a row that holds the events of one save (<c>TaskEventRows</c>): the task must have reached the row's
    /// last event, its first (<c>EventSequence</c>) plus the events after it in the row. Checking the first alone would
    /// let a stale save through when the change it missed recorded no event and the save's first number is free, yet the
    /// task's sequence already reached it (a row purged, a restore).
    /// </summary>
    public const string RowsLastEventSql = """
        CREATE OR REPLACE FUNCTION outbox_task_event_advances_task() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            last_event bigint := NEW."EventSequence"
                + CASE WHEN NEW."MessageType" = 'task.events-of-one-save' AND jsonb_typeof(NEW."PayloadJson" -> 'events') = 'array'
                       THEN greatest(jsonb_array_length(NEW."PayloadJson" -> 'events') - 1, 0) ELSE 0 END;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM "Tasks" WHERE "Id" = NEW."TaskId" AND "EventSequence" >= last_event) THEN
                RAISE EXCEPTION 'The event % of task % is stored without the change of the task it announces.', last_event, NEW."TaskId"
                    USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'OutboxMessages_TaskEventAdvancesTask';
            END IF;
            RETURN NULL;
        END $$;
        """;

    /// <summary>The function as <see cref="CreateSql"/> made it: one event a row.</summary>
    public static readonly string RowsFirstEventSql = CreateSql[..CreateSql.IndexOf("CREATE CONSTRAINT TRIGGER", StringComparison.Ordinal)]
        .Replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", StringComparison.Ordinal);

    public const string DropSql = """
        DROP TRIGGER "OutboxMessages_TaskEventAdvancesTask" ON "OutboxMessages";
        DROP FUNCTION outbox_task_event_advances_task();
        """;
}
