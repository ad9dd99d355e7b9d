using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Hosting;

/// <summary>
/// Builds the model and compiles the claim's read and the lease renewal before the executor subscribes (hosted services
/// start in order, this one first). Cold, on a busy machine, the first claim took 5 to 6 s: the first task after a
/// start waited that long, and the dispatcher announced it again meanwhile. A database not reachable yet only costs
/// that delay later: the start goes on.
/// </summary>
public sealed class ClaimWarmUp(IServiceScopeFactory scopes, WorkerIdentity worker, IOptions<WorkerOptions> options, ILogger<ClaimWarmUp> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
            await db.FindTaskWithDatabaseClockAsync(Guid.Empty, cancellationToken);
            await db.RenewLeasesAsync(worker.Id, [], options.Value.LeaseDuration, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not prepare the claim's queries at start; the first claim prepares them");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
