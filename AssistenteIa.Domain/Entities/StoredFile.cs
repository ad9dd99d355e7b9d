using AssistenteIa.Domain.Exceptions;

namespace AssistenteIa.Domain.Entities;

/// <summary>
/// A file a tenant uploaded or a task produced (table <c>Files</c>). Tasks read uploaded files through
/// <c>payload.inputs</c>; skills that make images or documents store them here and point an artifact at them.
/// </summary>
public sealed class StoredFile
{
    public const int MaxNameLength = 255;
    public const int MaxMediaTypeLength = 100;

    private StoredFile()
    {
    }

    public Guid Id { get; private set; }
    public string TenantId { get; private set; } = "";
    public string Name { get; private set; } = "";

    /// <summary>The media type found in the content itself, never the one the client claimed.</summary>
    public string MediaType { get; private set; } = "";
    public long SizeBytes { get; private set; }

    /// <summary>Hex SHA-256 of the content.</summary>
    public string Sha256 { get; private set; } = "";
    public byte[] Content { get; private set; } = [];

    /// <summary>The task whose attempt produced the file; null for an upload.</summary>
    public Guid? TaskId { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }

    public static StoredFile Create(string tenantId, string name, string mediaType, byte[] content, Guid? taskId, DateTimeOffset now)
    {
        if (content.Length == 0)
        {
            throw new DomainException("A file has content.");
        }

        return new StoredFile
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenantId,
            Name = Texts.Fit(string.IsNullOrWhiteSpace(name) ? "file" : name, MaxNameLength),
            MediaType = Texts.Fit(mediaType, MaxMediaTypeLength),
            SizeBytes = content.Length,
            Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)),
            Content = content,
            TaskId = taskId,
            CreatedAt = now,
        };
    }
}
