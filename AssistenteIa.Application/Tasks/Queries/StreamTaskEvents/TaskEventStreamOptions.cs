using System.ComponentModel.DataAnnotations;

namespace AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;

/// <summary>Section <c>TaskEvents</c>: the API's Server-Sent Events streams.</summary>
public sealed class TaskEventStreamOptions
{
    public const string Section = "TaskEvents";

    /// <summary>A comment line this often keeps proxies from closing an idle stream.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A stream ends after this long and the client reconnects (with <c>Last-Event-ID</c>, missing nothing): its API key
    /// is checked again, so a revoked key stops receiving events within this time.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxStreamDuration { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Streams one tenant may hold open on one API instance; more are refused with 429.</summary>
    [Range(1, 100_000)]
    public int MaxStreamsPerTenant { get; set; } = 100;

    /// <summary>Events a stream may fall behind the broker before it reads the rest from the database.</summary>
    [Range(16, 100_000)]
    public int StreamBufferSize { get; set; } = 1024;

    /// <summary>The most events one catch-up sends; a client further behind gets a <c>resync</c> event and reloads.</summary>
    [Range(1, 100_000)]
    public int ReplayLimit { get; set; } = 1000;

    /// <summary>
    /// Streams of one instance reading the database at once (a resume's position, a catch-up); the others wait their
    /// turn without a connection. Streams are not counted by <c>LoadShedding</c>: after an instance restarts, hundreds
    /// of pages reconnect at once, and their reads would otherwise take the pool the API's actions need.
    /// </summary>
    [Range(1, 1_000)]
    public int MaxConcurrentCatchUps { get; set; } = 4;

    /// <summary>
    /// Of <see cref="MaxConcurrentCatchUps"/>, the reads one tenant's streams may make at once: a tenant reconnecting many
    /// streams far behind waits for its own turns, and the other tenants' resumes go on.
    /// </summary>
    [Range(1, 1_000)]
    public int MaxConcurrentCatchUpsPerTenant { get; set; } = 1;

    /// <summary>
    /// A catch-up reads from this long before the last event sent: events are written by several processes, and one
    /// written a moment earlier may commit later. Events already sent are skipped; order one task's events by <c>sequence</c>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ReplayOverlap { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long this instance keeps receiving task events from the broker after its last stream closed (a page that
    /// reloads does not turn the feed off and on). With no stream open, the broker does not copy events to it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan FeedLinger { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// While its feed is on, this instance is a row of <c>EventListeners</c> (task events are published only while one
    /// is live) with this lease, renewed every quarter of it: an instance that dies keeps events published for at most
    /// this long; one that could not renew in time (a database outage) registers again and its streams catch up.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:02", "01:00:00")]
    public TimeSpan ListenerLease { get; set; } = TimeSpan.FromMinutes(2);
}
