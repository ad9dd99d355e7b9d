using System.Collections.Concurrent;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// How many times each delivery failed here on a row this build cannot read, by message id, for
/// <see cref="SubscriptionDefinition{TMessage}.UnreadableBeforeRejecting"/>; forgotten once it is handled. Bounded:
/// past <see cref="Capacity"/> messages it starts counting afresh, which costs a message a few more tries, never a
/// rejection too early.
/// </summary>
public sealed class FailureCounts
{
    public const int Capacity = 10_000;

    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    /// <summary>Counts one more failure of <paramref name="key"/>; returns how many there were, this one included.</summary>
    public int Count(string key)
    {
        if (_counts.Count >= Capacity && !_counts.ContainsKey(key))
        {
            _counts.Clear();
        }

        return _counts.AddOrUpdate(key, 1, (_, count) => count + 1);
    }

    /// <summary>Forgets <paramref name="key"/>; nearly free while nothing is counted (every handled delivery calls it).</summary>
    public void Forget(string key)
    {
        if (!_counts.IsEmpty)
        {
            _counts.TryRemove(key, out _);
        }
    }
}
