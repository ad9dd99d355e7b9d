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
        long unflushed = Write(body, preamble);
        await using var enumerator = items.GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            var next = enumerator.MoveNextAsync();
            if (unflushed > 0 && (!next.IsCompleted || unflushed >= MaxUnflushedBytes))
            {
                unflushed = 0;
                await body.FlushAsync(cancellationToken);
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
