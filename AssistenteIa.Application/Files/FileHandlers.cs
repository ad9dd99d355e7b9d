using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Files;

/// <summary>What the API answers about a stored file (never its content).</summary>
public sealed record FileDto(Guid Id, string Name, string MediaType, long SizeBytes, string Sha256, Guid? TaskId, DateTimeOffset CreatedAt)
{
    public static FileDto From(StoredFile file) => new(file.Id, file.Name, file.MediaType, file.SizeBytes, file.Sha256, file.TaskId, file.CreatedAt);
}

public sealed record FileContent(string Name, string MediaType, byte[] Content);

/// <summary>Uploads and reads of a tenant's files; another tenant's file is a 404, like a task.</summary>
public sealed class FilesHandler(IAppDbContext db, IOptions<FilesOptions> options, TimeProvider clock)
{
    public int MaxFileBytes => options.Value.MaxFileBytes;

    /// <summary>Stores an upload under the media type its content shows; the name the client sent is kept for display only.</summary>
    public async Task<FileDto> UploadAsync(string tenantId, string? name, byte[] content, CancellationToken cancellationToken)
    {
        if (content.Length == 0)
        {
            throw RequestValidationException.For("file", "The file is empty.");
        }

        if (content.Length > options.Value.MaxFileBytes)
        {
            throw new PayloadTooLargeException(content.Length, options.Value.MaxFileBytes);
        }

        var mediaType = MediaTypes.Sniff(content)
            ?? throw new UnsupportedMediaTypeException("The file is not a PNG, JPEG, GIF, TIFF, BMP or WebP image, a PDF, or UTF-8 text.");
        var file = StoredFile.Create(tenantId, SafeName(name), mediaType, content, taskId: null, clock.GetUtcNow());
        db.Files.Add(file);
        await db.SaveChangesAsync(cancellationToken);
        return FileDto.From(file);
    }

    public async Task<FileDto> GetAsync(string tenantId, Guid id, CancellationToken cancellationToken) =>
        await db.Files.AsNoTracking()
            .Where(f => f.Id == id && f.TenantId == tenantId)
            .Select(f => new FileDto(f.Id, f.Name, f.MediaType, f.SizeBytes, f.Sha256, f.TaskId, f.CreatedAt))
            .FirstOrDefaultAsync(cancellationToken)
        ?? throw new NotFoundException($"File {id} was not found.");

    public async Task<FileContent> GetContentAsync(string tenantId, Guid id, CancellationToken cancellationToken) =>
        await db.Files.AsNoTracking()
            .Where(f => f.Id == id && f.TenantId == tenantId)
            .Select(f => new FileContent(f.Name, f.MediaType, f.Content))
            .FirstOrDefaultAsync(cancellationToken)
        ?? throw new NotFoundException($"File {id} was not found.");

    /// <summary>The last path segment, without control characters: a display name, never a path.</summary>
    private static string SafeName(string? name)
    {
        var last = (name ?? "").Replace('\\', '/').Split('/').LastOrDefault() ?? "";
        var clean = new string(last.Where(c => !char.IsControl(c)).ToArray()).Trim();
        return clean.Length == 0 ? "file" : clean;
    }
}
