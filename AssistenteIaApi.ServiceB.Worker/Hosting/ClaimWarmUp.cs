using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
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

    public async Task StartAsync(CancellationToken cancellationToken)
    {
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
