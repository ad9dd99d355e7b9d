using System.Globalization;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>
/// Whether task events are published, decided by the database as each event's outbox row is inserted: a task event
/// costs the broker a publish and a confirm and the database a sent mark (an update that rewrites the row and its
/// indexes), five times a task, and with no stream open and no webhook endpoint enabled nothing receives it (measured:
/// about a quarter of the machine's CPU per task in a burst). So a trigger on <c>OutboxMessages</c> writes a task event
/// already sent (<c>SentAt = CreatedAt</c>, never published; it stays in the history the streams replay) while no row
/// of <c>EventListeners</c> is live.
/// <para>
/// No event is lost to a listener that registers: the trigger takes a shared advisory lock (<see cref="LockKey"/>)
/// before it reads the listeners, held until its transaction ends; <see cref="RegisterAsync"/> takes it exclusively. A
/// transaction that decided "nobody listens" has therefore committed before the registration commits, and one that
/// decides later sees the registration (in READ COMMITTED each statement of the trigger reads afresh). Every event
/// committed after the registration is published; one committed before it is in the database. A listener registers,
/// then binds its queue, then reads what it may have missed from the database.
/// </para>
/// </summary>
public static class TaskEventDemand
{
    /// <summary>The advisory lock key ("TASKEVTS" in ASCII).</summary>
    public const long LockKey = 0x5441_534B_4556_5453;

    /// <summary>How long a registration waits for the transactions that decided without it before it fails (and is tried again).</summary>
    public static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The function and trigger of the migration that introduced them (see <see cref="LockKey"/>).</summary>
    public static string CreateTriggerSql => string.Create(CultureInfo.InvariantCulture, $"""
        CREATE FUNCTION outbox_task_event_demand() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared({LockKey});
            IF NOT EXISTS (SELECT 1 FROM "EventListeners" WHERE "Until" > now()) THEN
                NEW."SentAt" := NEW."CreatedAt";
            END IF;
            RETURN NEW;
        END $$;

        CREATE TRIGGER "OutboxMessages_TaskEventDemand" BEFORE INSERT ON "OutboxMessages"
        FOR EACH ROW WHEN (NEW."Destination" = 'task-events' AND NEW."SentAt" IS NULL)
        EXECUTE FUNCTION outbox_task_event_demand();
        """);

    public const string DropTriggerSql = """
        DROP TRIGGER "OutboxMessages_TaskEventDemand" ON "OutboxMessages";
        DROP FUNCTION outbox_task_event_demand();
        """;

    /// <summary>
    /// Registers (or renews) <paramref name="name"/> until <paramref name="lease"/> from now (no lease: until removed).
    /// Returns once every transaction that decided without it has ended; inside the caller's transaction, the
    /// registration counts from its commit.
    /// </summary>
    public static Task RegisterAsync(AppDbContext db, string name, TimeSpan? lease, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""
            WITH settings AS MATERIALIZED (SELECT set_config('lock_timeout', {LockTimeoutSetting}, true)),
                 writers AS MATERIALIZED (SELECT pg_advisory_xact_lock({LockKey}) FROM settings)
            INSERT INTO "EventListeners" ("Name", "Until", "RegisteredAt")
            SELECT {name}, COALESCE(now() + {lease}::interval, 'infinity'), now() FROM writers
            ON CONFLICT ("Name") DO UPDATE SET "Until" = EXCLUDED."Until", "RegisteredAt" = EXCLUDED."RegisteredAt"
            """, cancellationToken);

    /// <summary>
    /// Extends a live registration (no lease: until removed); false when it had lapsed or was removed: events may have
    /// gone unpublished since, so register again and catch up. A live row needs no lock: writers have seen it since it
    /// was registered.
    /// </summary>
    public static async Task<bool> RenewAsync(AppDbContext db, string name, TimeSpan? lease, CancellationToken cancellationToken) =>
        await db.Database.ExecuteSqlAsync($"""
            UPDATE "EventListeners" SET "Until" = COALESCE(now() + {lease}::interval, 'infinity') WHERE "Name" = {name} AND "Until" > now()
            """, cancellationToken) == 1;

    /// <summary>Renews <paramref name="name"/>, or registers it when it was not live; true when it had to register (what was written meanwhile was not published).</summary>
    public static async Task<bool> EnsureAsync(AppDbContext db, string name, TimeSpan? lease, CancellationToken cancellationToken)
    {
        if (await RenewAsync(db, name, lease, cancellationToken))
        {
            return false;
        }

        await RegisterAsync(db, name, lease, cancellationToken);
        return true;
    }

    public static Task RemoveAsync(AppDbContext db, string name, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""DELETE FROM "EventListeners" WHERE "Name" = {name}""", cancellationToken);

    private static readonly string LockTimeoutSetting = $"{(int)LockTimeout.TotalMilliseconds}";
}
