using AssistenteIa.Application.Ports.Out;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Tasks.Queries.GetTask;

/// <summary>Reads a task and its attempts and artifacts, always scoped to the caller's tenant.</summary>
public sealed class GetTaskHandler(IAppDbContext db)
{
    public async Task<TaskDto> GetAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        var task = await db.Tasks.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id && t.TenantId == tenantId, cancellationToken)
            ?? throw NotFound(id);
        return TaskDto.From(task);
    }

    public async Task<IReadOnlyList<TaskAttemptDto>> GetAttemptsAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        await EnsureVisibleAsync(tenantId, id, cancellationToken);
        return await db.TaskAttempts.AsNoTracking()
            .Where(a => a.TaskId == id)
            .OrderBy(a => a.AttemptNo)
            .Select(a => new TaskAttemptDto(a.AttemptNo, a.Status, a.StartedAt, a.EndedAt, a.Model, a.TokensIn, a.TokensOut, a.Cost, a.LatencyMs, a.ErrorCode, a.ErrorDetail, a.NextAttemptAt, a.Units, a.Unit))
            .ToListAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<TaskArtifactDto>> GetArtifactsAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        await EnsureVisibleAsync(tenantId, id, cancellationToken);
        return await db.TaskArtifacts.AsNoTracking()
            .Where(a => a.TaskId == id)
            .OrderBy(a => a.CreatedAt)
            .Select(a => new TaskArtifactDto(a.Id, a.Kind, a.Name, a.MediaType, a.Content, a.Uri, a.CreatedAt))
            .ToListAsync(cancellationToken);
    }

    /// <summary>Throws <see cref="NotFoundException"/> unless the tenant has this task.</summary>
    public async Task EnsureVisibleAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        if (!await db.Tasks.AnyAsync(t => t.Id == id && t.TenantId == tenantId, cancellationToken))
        {
            throw NotFound(id);
        }
    }

    /// <summary>Another tenant's task is "not found", never "forbidden": that would reveal it exists.</summary>
    private static NotFoundException NotFound(Guid id) => new($"Task {id} was not found.");
}
