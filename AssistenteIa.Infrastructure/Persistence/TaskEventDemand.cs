using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>
/// Whether task events are published, decided by the database as each outbox row of task events is inserted (one a
/// save: <c>TaskEventRows</c>): a task event costs the broker a publish and a confirm, five times a task, and its row
/// the database a sent mark (an update that rewrites the row and its indexes), three times a task, and with no stream open and no webhook endpoint enabled nothing receives it. So a
/// trigger on <c>OutboxMessages</c> writes a task event already sent (<c>SentAt = CreatedAt</c>, never published; it
/// stays in the history the streams replay) while no row of <c>EventListeners</c> is live.
/// <para>
/// No event is lost to a listener that registers, and no writer ever waits for one: the trigger makes sure its
/// transaction has an id before it reads the listeners (in READ COMMITTED each statement of a trigger reads afresh;
/// in a stricter isolation level it does not decide, it publishes). A transaction that decided "nobody listens" before
/// a registration committed is therefore committed, or still running, when the registration has committed; the
/// registering side then waits until every transaction running at that moment has ended
/// (<see cref="WaitForUndecidedAsync"/>). After that, every event that was not published is in the database, and every
/// later one is published. A listener registers, binds its queue, waits, then reads what it may have missed.
/// </para>
/// </summary>
public static class TaskEventDemand
{
    /// <summary>How long a registration waits for the transactions that were running when it committed: one that runs longer is not waited for (its events, if it decided without the listener, are in the database once it commits, but the listener's catch-up may have run before).</summary>
    public static readonly TimeSpan UndecidedWait = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>The function and trigger of the migration that introduced them.</summary>
    public const string CreateTriggerSql = """
        CREATE FUNCTION outbox_task_event_demand() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- An id before the read: a registration committing after this read waits for this transaction to end.
            PERFORM pg_current_xact_id();
            IF current_setting('transaction_isolation') = 'read committed'
               AND NOT EXISTS (SELECT 1 FROM "EventListeners" WHERE "Until" > now()) THEN
                NEW."SentAt" := NEW."CreatedAt";
            END IF;
            RETURN NEW;
        END $$;

        CREATE TRIGGER "OutboxMessages_TaskEventDemand" BEFORE INSERT ON "OutboxMessages"
        FOR EACH ROW WHEN (NEW."Destination" = 'task-events' AND NEW."SentAt" IS NULL)
        EXECUTE FUNCTION outbox_task_event_demand();
        """;

    public const string DropTriggerSql = """
        DROP TRIGGER "OutboxMessages_TaskEventDemand" ON "OutboxMessages";
        DROP FUNCTION outbox_task_event_demand();
        """;

    /// <summary>
    /// Registers (or renews) <paramref name="name"/> until <paramref name="lease"/> from now (no lease: until removed).
    /// It counts from its commit (the caller's, inside a transaction); then call <see cref="WaitForUndecidedAsync"/>.
    /// </summary>
    public static Task RegisterAsync(AppDbContext db, string name, TimeSpan? lease, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""
            INSERT INTO "EventListeners" ("Name", "Until", "RegisteredAt")
            VALUES ({name}, COALESCE(now() + {lease}::interval, 'infinity'), now())
            ON CONFLICT ("Name") DO UPDATE SET "Until" = EXCLUDED."Until", "RegisteredAt" = EXCLUDED."RegisteredAt"
            """, cancellationToken);

    /// <summary>
    /// After a registration committed: waits until every transaction running now has ended, so each task event that
    /// was decided without the registration is in the database (or was rolled back). False when one is still running
    /// after <see cref="UndecidedWait"/>.
    /// </summary>
    public static async Task<bool> WaitForUndecidedAsync(AppDbContext db, CancellationToken cancellationToken)
    {
        // A snapshot leaves out every id above the newest finished one: a writer that got its id after the registration
        // did and is still running would be missing from it. A transaction of its own, given an id and ended here, is
        // newer than every such writer, so the snapshot taken after it lists them all.
        await db.Database.SqlQuery<string>($"""SELECT pg_current_xact_id()::text AS "Value" """).SingleAsync(cancellationToken);
        var snapshot = await db.Database.SqlQuery<string>($"""SELECT pg_current_snapshot()::text AS "Value" """).SingleAsync(cancellationToken);
        var deadline = DateTime.UtcNow + UndecidedWait;
        while (await db.Database.SqlQuery<bool>($"""
                   SELECT EXISTS (SELECT 1 FROM pg_snapshot_xip({snapshot}::pg_snapshot) AS x WHERE pg_xact_status(x) = 'in progress') AS "Value"
                   """).SingleAsync(cancellationToken))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// Extends a live registration (no lease: until removed); false when it had lapsed or was removed: events may have
    /// gone unpublished since, so register again and catch up. A live row needs no wait: writers have seen it since
    /// it was registered.
    /// </summary>
    /// <remarks>
    /// A lease is renewed only while a quarter of it is left: a writer that started after the old end would read the
    /// old row until the renewal commits and store its event unpublished, with nothing to tell the listener.
    /// </remarks>
    public static async Task<bool> RenewAsync(AppDbContext db, string name, TimeSpan? lease, CancellationToken cancellationToken) =>
        await db.Database.ExecuteSqlAsync($"""
            UPDATE "EventListeners" SET "Until" = COALESCE(now() + {lease}::interval, 'infinity')
            WHERE "Name" = {name} AND "Until" > now() + COALESCE({lease}::interval / 4, interval '0')
            """, cancellationToken) == 1;

    /// <summary>
    /// Renews <paramref name="name"/>, or registers it and waits for the transactions that decided without it (outside
    /// any transaction of the caller's); true when it had to register (what was written meanwhile was not published).
    /// </summary>
    public static async Task<bool> EnsureAsync(AppDbContext db, string name, TimeSpan? lease, CancellationToken cancellationToken)
    {
        if (await RenewAsync(db, name, lease, cancellationToken))
        {
            return false;
        }

        await RegisterAsync(db, name, lease, cancellationToken);
        await WaitForUndecidedAsync(db, cancellationToken);
        return true;
    }

    public static Task RemoveAsync(AppDbContext db, string name, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""DELETE FROM "EventListeners" WHERE "Name" = {name}""", cancellationToken);
}
