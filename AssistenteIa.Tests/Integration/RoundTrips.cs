using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AssistenteIa.Tests.Integration;

/// <summary>Counts the statement batches (those <paramref name="counts"/> says, all by default) contexts send and the transactions they begin.</summary>
internal sealed class RoundTrips(Func<string, bool>? counts = null) : IDbCommandInterceptor, IDbTransactionInterceptor
{
    private int _batches;
    private int _transactions;

    public int Batches => Volatile.Read(ref _batches);

    public int Transactions => Volatile.Read(ref _transactions);

    public void Reset()
    {
        Volatile.Write(ref _batches, 0);
        Volatile.Write(ref _transactions, 0);
    }

    public ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Count(command);
        return ValueTask.FromResult(result);
    }

    public ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Count(command);
        return ValueTask.FromResult(result);
    }

    public ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _transactions);
        return ValueTask.FromResult(result);
    }

    private void Count(DbCommand command)
    {
        if (counts?.Invoke(command.CommandText) ?? true)
        {
            Interlocked.Increment(ref _batches);
        }
    }
}
