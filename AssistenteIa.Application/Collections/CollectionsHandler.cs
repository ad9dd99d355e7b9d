using System.Text.Json;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Collections;

/// <summary>A tenant's collection: its documents and chunks per embedding model.</summary>
public sealed record CollectionDto(string Name, string Model, int Documents, int Chunks, DateTimeOffset LastAddedAt);

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
        await db.DocumentChunks.AsNoTracking()
            .Where(c => c.TenantId == tenantId)
            .GroupBy(c => new { c.Collection, c.Model })
            .OrderBy(g => g.Key.Collection).ThenBy(g => g.Key.Model)
            .Select(g => new CollectionDto(g.Key.Collection, g.Key.Model, g.Select(c => c.DocumentId).Distinct().Count(), g.Count(), g.Max(c => c.CreatedAt)))
            .ToListAsync(cancellationToken);
}
