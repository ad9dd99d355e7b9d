using System.IO.Pipelines;
using System.Text;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;

namespace AssistenteIaApi.Interfaces.Http;

/// <summary>
/// Writes a stream's items as text/event-stream: <c>id</c>, <c>event</c> and one <c>data</c> line per line of data for an
/// event, a comment for a heartbeat. The items at hand go out together: a burst (a catch-up, a busy tenant's live feed)
/// costs one write to the client, not one per event, and each event still leaves as soon as it arrives, because what is
/// written is flushed whenever the next item is not already there (or <see cref="MaxUnflushedBytes"/> are waiting).
/// </summary>
public static class ServerSentEventsWriter
{
    /// <summary>The bytes written before they are sent even though more items are at hand.</summary>
    public const int MaxUnflushedBytes = 64 * 1024;

    /// <summary>Writes <paramref name="preamble"/>, then every item, until the items end (or the token cancels).</summary>
    public static async Task WriteAsync(IAsyncEnumerable<StreamItem> items, string preamble, PipeWriter body, CancellationToken cancellationToken)
    {
        // The headers and the preamble go out before anything is read: a stream that fails at its first read (the
        // database refusing the Last-Event-ID lookup) has started, and simply ends.
        if (Write(body, preamble) > 0)
        {
            await body.FlushAsync(cancellationToken);
        }

        long unflushed = 0;
        await using var enumerator = items.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            var next = enumerator.MoveNextAsync();
            if (unflushed > 0 && (!next.IsCompleted || unflushed >= MaxUnflushedBytes))
            {
                unflushed = 0;
                try
                {
                    await body.FlushAsync(cancellationToken);
                }
                catch
                {
                    // The enumerator may not be disposed while its next item is pending: let it end first (the token
                    // that failed the flush ends it too), then report the flush's failure.
                    try
                    {
                        await next;
                    }
                    catch
                    {
                        // The flush's failure is what is reported.
                    }

                    throw;
                }
            }

            if (!await next)
            {
                break;
            }

            var item = enumerator.Current;
            unflushed += item.Kind switch
            {
                StreamItemKind.Event => WriteEvent(body, item.Event!.Id.ToString(), item.Event.Type, item.Event.Json),
                StreamItemKind.Resync => WriteEvent(body, null, "resync", "{}"),
                _ => Write(body, ": heartbeat\n\n"),
            };
        }

        if (unflushed > 0)
        {
            await body.FlushAsync(cancellationToken);
        }
    }

    private static long WriteEvent(PipeWriter body, string? id, string type, string data)
    {
        var frame = new StringBuilder();
        if (id is not null)
        {
            frame.Append("id: ").Append(id).Append('\n');
        }

        frame.Append("event: ").Append(type).Append('\n');
        foreach (var line in data.Split('\n'))
        {
            frame.Append("data: ").Append(line.TrimEnd('\r')).Append('\n');
        }

        return Write(body, frame.Append('\n').ToString());
    }

    private static long Write(PipeWriter body, string text) => Encoding.UTF8.GetBytes(text, body);
}
