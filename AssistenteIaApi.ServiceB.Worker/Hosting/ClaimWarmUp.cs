using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Hosting;

/// <summary>
/// Builds the model and compiles the claim's read and the lease renewal before the executor subscribes (hosted services
/// start in order, this one first, and Kestrel after them). Cold, on a busy machine, the first claim took 5 to 6 s: the
/// first task after a start waited that long, and the dispatcher announced it again meanwhile. A database not
/// reachable or not answering holds the start for <see cref="StartLimit"/> at most (Npgsql does not give up a
/// connection attempt on cancellation): the warm-up goes on beside the subscriptions, or the first claim prepares
/// the queries.
/// </summary>
public sealed class ClaimWarmUp(IServiceScopeFactory scopes, WorkerIdentity worker, IOptions<WorkerOptions> options, ILogger<ClaimWarmUp> logger) : IHostedService
{
    public static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(5);

    /// <summary>How often a start waiting for the database's migrations asks again.</summary>
    public static readonly TimeSpan SchemaPoll = TimeSpan.FromSeconds(2);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await WaitForSchemaAsync(cancellationToken);
        try
        {
            await WarmUpAsync(cancellationToken).WaitAsync(StartLimit, cancellationToken);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("The database did not answer within {Limit}; the executor starts without its claim's queries prepared", StartLimit);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// The API applies the migrations; a deploy that starts a new ServiceB first would run it against a database
    /// without what its saves rely on (the unique event numbers and the check at commit that refuse a save made from a
    /// stale read, without a transaction). So the executor does not subscribe while the database lacks a migration
    /// this build has. A database that does not answer is not waited for here (see <see cref="StartLimit"/>).
    /// </summary>
    private async Task WaitForSchemaAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            List<string> pending;
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                if (scope.ServiceProvider.GetRequiredService<IAppDbContext>() is not AppDbContext db)
                {
                    return;
                }

                pending = [.. await db.Database.GetPendingMigrationsAsync(cancellationToken).WaitAsync(StartLimit, cancellationToken)];
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not read which migrations the database has; the executor starts without waiting for them");
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (pending.Count == 0)
            {
                return;
            }

            logger.LogWarning("The database lacks {Count} migrations of this build (the last: {Migration}); waiting for the API to apply them before consuming", pending.Count, pending[^1]);
            try
            {
                await Task.Delay(SchemaPoll, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // A stop while waiting: the host stops without an error.
                return;
            }
        }
    }

    private async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
            await db.FindTaskWithDatabaseClockAsync(Guid.Empty, cancellationToken);
            await db.RenewLeasesAsync(worker.Id, [], options.Value.LeaseDuration, options.Value.RenewalTimeout, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Could not prepare the claim's queries at start; the first claim prepares them");
        }
    }
}
