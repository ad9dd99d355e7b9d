using AssistenteIa.Domain.Exceptions;

namespace AssistenteIa.Domain.Entities;

public enum ArtifactKind
{
    Text,
    File,
    Link,
}

/// <summary>An output of a task: inline text, or a reference to a file or link (table <c>TaskArtifacts</c>).</summary>
public sealed class TaskArtifact
{
    private TaskArtifact()
    {
    }

    public Guid Id { get; private set; }
    public Guid TaskId { get; private set; }
    public int AttemptNo { get; private set; }
    public ArtifactKind Kind { get; private set; }
    public string? Content { get; private set; }
    public string? Uri { get; private set; }

    /// <summary>What the output is among the attempt's outputs (<c>answer</c>, <c>classification</c>, <c>steps</c>, …); null for a lone answer.</summary>
    public string? Name { get; private set; }

    /// <summary><c>text/plain</c>, <c>application/json</c> for structured results, or a file's media type.</summary>
    public string? MediaType { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }

    public const int MaxNameLength = 100;

    public static TaskArtifact Text(Guid taskId, int attemptNo, string content, DateTimeOffset now, string? name = null, string mediaType = "text/plain") =>
        new()
        {
            Id = Guid.CreateVersion7(now),
            TaskId = taskId,
            AttemptNo = attemptNo,
            Kind = ArtifactKind.Text,
            Content = Texts.WithoutNul(content),
            Name = Texts.FitOrNull(name, MaxNameLength),
            MediaType = Texts.Fit(mediaType, StoredFile.MaxMediaTypeLength),
            CreatedAt = now,
        };

    public static TaskArtifact Reference(Guid taskId, int attemptNo, ArtifactKind kind, string uri, DateTimeOffset now, string? name = null, string? mediaType = null)
    {
        if (kind == ArtifactKind.Text)
        {
            throw new DomainException("A text artifact carries content, not a URI.");
        }

        return new()
        {
            Id = Guid.CreateVersion7(now),
            TaskId = taskId,
            AttemptNo = attemptNo,
            Kind = kind,
            Uri = uri,
            Name = Texts.FitOrNull(name, MaxNameLength),
            MediaType = Texts.FitOrNull(mediaType, StoredFile.MaxMediaTypeLength),
            CreatedAt = now,
        };
    }
}
