using System.Data.Common;
using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.CreateTask;

/// <summary>
/// Stores a task with the outbox rows of its events (created, queued) in one transaction, then publishes them
/// (<see cref="TaskCreationWriter"/>: concurrent creates share the transaction).
/// Idempotent per (tenant, Idempotency-Key): the unique index decides races, not a check-then-insert.
/// </summary>
public sealed class CreateTaskHandler(
    IAppDbContext db,
    TaskCreationWriter writer,
    IOptions<TaskOptions> options,
    IOptions<AiOptions> aiOptions,
    CapabilityContracts contracts,
    IOutboundUrlPolicy urls,
    TimeProvider clock,
    TaskMetrics metrics,
    ILogger<CreateTaskHandler> logger)
{
    public async Task<CreateTaskResult> HandleAsync(CreateTaskCommand command, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();

        // A retry answers with the task the first request created, even when that request would not pass today's
        // checks (its scheduledAt has passed, a limit changed): look the key up before validating.
        string? requestHash = null;
        if (command.IdempotencyKey is { } key && CreateTaskValidator.IsValidIdempotencyKey(key))
        {
            requestHash = RequestFingerprint.Of(command, options.Value);
            if (await FindReplayAsync(command.TenantId, key, requestHash, cancellationToken) is { } earlier)
            {
                return earlier;
            }
        }

        var payloadJson = CreateTaskValidator.ValidateAndSerialize(command, options.Value, aiOptions.Value, contracts, now);
        await CheckReferencesAsync(command, cancellationToken);
        if (command.Priority == Priority.Critical)
        {
            await EnsureCriticalQuotaAsync(command.TenantId, cancellationToken);
        }

        var id = Guid.CreateVersion7(now);
        var correlationId = Guid.NewGuid().ToString("N");
        var maxAttempts = command.MaxAttempts ?? options.Value.DefaultMaxAttempts;
        AiTask Build()
        {
            var task = AiTask.Create(
                id,
                command.TenantId,
                command.Type,
                command.Priority,
                payloadJson,
                maxAttempts,
                command.IdempotencyKey,
                requestHash,
                correlationId,
                command.ScheduledAt,
                now);
            if (!task.IsDeferred(now))
            {
                task.Enqueue(now);
            }

            return task;
        }

        AiTask task;
        try
        {
            // Stored with its work message and event rows, together with the tasks of the requests arriving meanwhile,
            // then handed to the publisher.
            task = await writer.StoreAsync(Build, command.IdempotencyKey is { } stored ? (command.TenantId, stored) : null, cancellationToken);
        }
        catch (DbUpdateException ex) when (command.IdempotencyKey is { } raced && IsUniqueViolation(ex))
        {
            // A concurrent request with the same key won the insert: answer with its task.
            return await FindReplayAsync(command.TenantId, raced, requestHash!, cancellationToken)
                ?? throw new ConflictException($"A request with Idempotency-Key '{raced}' is in progress; retry it.");
        }

        metrics.TaskCreated(task.Type);
        using (logger.BeginScope(new Dictionary<string, object> { ["TaskId"] = task.Id, ["CorrelationId"] = task.CorrelationId }))
        {
            logger.LogInformation("Task {TaskId} created for tenant {TenantId} as {TaskType}, status {Status}", task.Id, task.TenantId, task.Type, task.Status);
        }

        return new CreateTaskResult(TaskDto.From(task), Replayed: false);
    }

    /// <summary>
    /// What the payload points at outside itself, for the capabilities that read it: input files belong to the tenant
    /// and are of a type the skill reads; URLs do not lead to internal addresses (checked again when the worker
    /// connects, since DNS can change meanwhile). Shapes were checked by the contracts already.
    /// </summary>
    private async Task CheckReferencesAsync(CreateTaskCommand command, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var capability = command.Type.Capability;
        var inputs = capability is CapabilityType.Vision_OCR or CapabilityType.Vision_ObjectDetection ? command.Payload.Inputs ?? [] : [];
        var fileIds = inputs.Where(i => i.FileId is not null).Select(i => i.FileId!.Value).Distinct().ToList();
        if (fileIds.Count > 0)
        {
            var found = await db.Files.AsNoTracking()
                .Where(f => f.TenantId == command.TenantId && fileIds.Contains(f.Id))
                .Select(f => new { f.Id, f.MediaType })
                .ToDictionaryAsync(f => f.Id, f => f.MediaType, cancellationToken);
            for (var i = 0; i < inputs.Count; i++)
            {
                if (inputs[i].FileId is not { } id)
                {
                    continue;
                }

                if (!found.TryGetValue(id, out var mediaType))
                {
                    errors[$"payload.inputs[{i}].fileId"] = [$"No file {id} was uploaded by this tenant."];
                }
                else if (!MediaTypes.IsImage(mediaType) && !(capability == CapabilityType.Vision_OCR && mediaType == MediaTypes.Pdf))
                {
                    errors[$"payload.inputs[{i}].fileId"] = [$"File {id} is {mediaType}; {capability} reads {(capability == CapabilityType.Vision_OCR ? "images and PDFs" : "images")}."];
                }
            }
        }

        var targets = inputs.Select((input, i) => (Url: input.Url, Path: $"payload.inputs[{i}].url"))
            .Append((Url: capability == CapabilityType.ExternalIntegration ? command.Payload.Request?.Url : null, Path: "payload.request.url"));
        foreach (var (url, path) in targets)
        {
            if (url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri) && await urls.CheckAsync(uri, cancellationToken) is { } problem)
            {
                errors[path] = [problem];
            }
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }
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

    /// <summary>
    /// One tenant may not hold more than the configured number of unfinished Critical tasks (a soft cap: two
    /// requests racing at the limit may both pass).
    /// </summary>
    private async Task EnsureCriticalQuotaAsync(string tenantId, CancellationToken cancellationToken)
    {
        var limit = options.Value.MaxCriticalPerTenant;
        var open = await db.Tasks.CountAsync(
            t => t.TenantId == tenantId && t.Priority == Priority.Critical
                && (t.Status == AiTaskStatus.Created || t.Status == AiTaskStatus.Queued || t.Status == AiTaskStatus.Reserved
                    || t.Status == AiTaskStatus.Running || t.Status == AiTaskStatus.Failed),
            cancellationToken);
        if (open >= limit)
        {
            throw new QuotaExceededException(
                $"This tenant already has {open} unfinished Critical tasks; the limit is {limit}. Use High, or wait for some to finish.");
        }
    }

    private static bool IsUniqueViolation(DbUpdateException ex) =>
        ex.InnerException is DbException { SqlState: "23505" };
}
