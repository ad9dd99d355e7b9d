namespace AssistenteIa.Application;

/// <summary>
/// Looks through an exception and the exceptions it wraps: EF's update errors, its retrying strategy and its detailed
/// errors wrap what the database or a value converter threw, sometimes more than once.
/// </summary>
public static class ExceptionChain
{
    /// <summary>
    /// The exception, or the first exception it wraps, that is a <typeparamref name="T"/> and matches
    /// <paramref name="match"/> (any when null); null when none is.
    /// </summary>
    public static T? Find<T>(this Exception? exception, Func<T, bool>? match = null)
        where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found && (match is null || match(found)))
            {
                return found;
            }
        }

        return null;
    }
}
