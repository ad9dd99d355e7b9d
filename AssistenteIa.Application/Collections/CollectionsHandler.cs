using System.Text.Json;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Collections;

/// <summary>A tenant's collection: its documents and chunks per embedding model.</summary>
public sealed record CollectionDto(string Name, string Model, int Documents, int Chunks, DateTimeOffset UpdatedAt);

/// <summary>
/// The tenant's search collections. A document is added as an Embedding_Search task (so it is chunked and embedded by
/// ServiceB, retried and recorded like any task); a collection exists once it has a chunk.
/// </summary>
public sealed class CollectionsHandler(IAppDbContext db, CreateTaskHandler tasks)
{
    public Task<CreateTaskResult> AddDocumentAsync(
        string tenantId, string collection, string text, Dictionary<string, JsonElement>? metadata, Priority priority, string? idempotencyKey, CancellationToken cancellationToken) =>
        tasks.HandleAsync(
            new CreateTaskCommand(
                tenantId,
                new TaskType(DomainType.DocumentProcessing, CapabilityType.Embedding_Search, ExecutionType.Async),
                priority,
                new TaskPayload { Document = new DocumentSpec { Collection = collection, Text = text, Metadata = metadata } },
                MaxAttempts: null,
                ScheduledAt: null,
                idempotencyKey),
            cancellationToken);

    public async Task<IReadOnlyList<CollectionDto>> ListAsync(string tenantId, CancellationToken cancellationToken) =>
        await db.SearchCollections.AsNoTracking()
            .Where(c => c.TenantId == tenantId && c.Chunks > 0)
            .OrderBy(c => c.Name).ThenBy(c => c.Model)
            .Select(c => new CollectionDto(c.Name, c.Model, c.Documents, c.Chunks, c.UpdatedAt))
            .ToListAsync(cancellationToken);
}
