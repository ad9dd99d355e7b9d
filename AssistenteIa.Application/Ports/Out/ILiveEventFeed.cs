namespace AssistenteIa.Application.Ports.Out;

/// <summary>
/// The broker feed of this API instance's event streams. It is wanted only while a stream is open: with none open, the
/// broker does not copy every task event to this instance, which would read each one only to find nobody listening.
/// Once the feed comes on, events may have been published before it did: the streams then catch up from the database,
/// as after any interruption of the feed.
/// </summary>
public interface ILiveEventFeed
{
    /// <summary>A stream opened; the first one turns the feed on (in the background: opening a stream never waits on the broker).</summary>
    void Acquire();

    /// <summary>A stream closed; once none is left for a while, the feed turns off.</summary>
    void Release();
}
