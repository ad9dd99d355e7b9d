using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application.Abstractions;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.CreateTask;

/// <summary>
/// Stores a task and its <c>TaskQueued</c> outbox row in one transaction, then publishes the row.
/// Idempotent per (tenant, Idempotency-Key): the unique index decides races, not a check-then-insert.
/// </summary>
public sealed class CreateTaskHandler(
    IAppDbContext db,
    OutboxPublisher outbox,
    IOptions<TaskOptions> options,
    TimeProvider clock,
    TaskMetrics metrics,
    ILogger<CreateTaskHandler> logger)
{
    public async Task<CreateTaskResult> HandleAsync(CreateTaskCommand command, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var payloadJson = CreateTaskValidator.ValidateAndSerialize(command, options.Value, now);
        var requestHash = command.IdempotencyKey is null ? null : Fingerprint(command, payloadJson);

        if (command.IdempotencyKey is { } key && await FindReplayAsync(command.TenantId, key, requestHash!, cancellationToken) is { } earlier)
        {
            return earlier;
        }

        var task = AiTask.Create(
            Guid.CreateVersion7(now),
            command.TenantId,
            command.Type,
            command.Priority,
            payloadJson,
            command.MaxAttempts ?? options.Value.DefaultMaxAttempts,
            command.IdempotencyKey,
            requestHash,
            Guid.NewGuid().ToString("N"),
            command.ScheduledAt,
            now);

        var messages = new List<OutboxMessage>();
        if (!task.IsDeferred(now))
        {
            messages.Add(TaskMessages.Queued(task, now));
            task.Enqueue(now);
        }

        db.Tasks.Add(task);
        db.OutboxMessages.AddRange(messages);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException ex) when (command.IdempotencyKey is { } raced && IsUniqueViolation(ex))
        {
            // A concurrent request with the same key won the insert: answer with its task.
            db.ClearTracking();
            return await FindReplayAsync(command.TenantId, raced, requestHash!, cancellationToken)
                ?? throw new ConflictException($"A request with Idempotency-Key '{raced}' is in progress; retry it.");
        }

        metrics.TaskCreated(task.Type);
        using (logger.BeginScope(new Dictionary<string, object> { ["TaskId"] = task.Id, ["CorrelationId"] = task.CorrelationId }))
        {
            logger.LogInformation("Task {TaskId} created for tenant {TenantId} as {TaskType}, status {Status}", task.Id, task.TenantId, task.Type, task.Status);
        }

        await outbox.PublishCommittedAsync(messages, cancellationToken);
        return new CreateTaskResult(TaskDto.From(task), Replayed: false);
    }

    private async Task<CreateTaskResult?> FindReplayAsync(string tenantId, string key, string requestHash, CancellationToken cancellationToken)
    {
        var existing = await db.Tasks.AsNoTracking()
            .FirstOrDefaultAsync(t => t.TenantId == tenantId && t.IdempotencyKey == key, cancellationToken);
        if (existing is null)
        {
            return null;
        }

        return existing.RequestHash == requestHash
            ? new CreateTaskResult(TaskDto.From(existing), Replayed: true)
            : throw new IdempotencyKeyReusedException(key);
    }

    private static string Fingerprint(CreateTaskCommand command, string payloadJson)
    {
        var canonical = JsonSerializer.Serialize(
            new { command.Type, command.Priority, payloadJson, command.MaxAttempts, command.ScheduledAt },
            JsonDefaults.Options);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    private static bool IsUniqueViolation(DbUpdateException ex) =>
        ex.InnerException is DbException { SqlState: "23505" };
}
