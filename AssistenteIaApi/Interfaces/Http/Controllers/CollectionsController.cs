using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using AssistenteIa.Application.Collections;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Interfaces.Http.Controllers;

/// <summary>
/// The tenant's search collections: documents added here are chunked and embedded by an Embedding_Search task; a task
/// with <c>payload.search</c> then finds the chunks closest to a query.
/// </summary>
[ApiController]
[Authorize]
[Route("api/v1/collections")]
public sealed class CollectionsController(CollectionsHandler handler) : ControllerBase
{
    /// <summary>
    /// Adds a document to the collection <c>name</c> (created on first use): answers 202 with the Embedding_Search task
    /// that chunks and embeds it; the document's id is the task's id. Send an Idempotency-Key to make retries safe.
    /// </summary>
    [HttpPost("{name}/documents", Name = "addCollectionDocument")]
    [Consumes("application/json")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status202Accepted, "application/json")]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status413PayloadTooLarge, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status422UnprocessableEntity, "application/problem+json")]
    public async Task<IActionResult> AddDocument(
        string name,
        [FromBody] AddDocumentRequest request,
        [FromHeader(Name = TasksController.IdempotencyKeyHeader)] string? idempotencyKey,
        CancellationToken cancellationToken)
    {
        var result = await handler.AddDocumentAsync(User.TenantId(), name, request.Text!, request.Metadata, request.Priority, idempotencyKey, cancellationToken);
        return Accepted($"/api/v1/tasks/{result.Task.Id}", result.Task);
    }

    /// <summary>The tenant's collections, with their documents and chunks per embedding model.</summary>
    [HttpGet(Name = "listCollections")]
    [ProducesResponseType<IReadOnlyList<CollectionDto>>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    public Task<IReadOnlyList<CollectionDto>> List(CancellationToken cancellationToken) => handler.ListAsync(User.TenantId(), cancellationToken);
}

/// <summary>Body of <c>POST /api/v1/collections/{name}/documents</c>.</summary>
public sealed record AddDocumentRequest
{
    /// <summary>The document's text (up to 200,000 characters), chunked at sentence ends.</summary>
    [Required]
    public string? Text { get; init; }

    /// <summary>Returned with every search hit from this document (e.g. a title or a source URL).</summary>
    public Dictionary<string, JsonElement>? Metadata { get; init; }

    /// <summary>The embedding task's priority (default Normal).</summary>
    public Priority Priority { get; init; } = Priority.Normal;
}
