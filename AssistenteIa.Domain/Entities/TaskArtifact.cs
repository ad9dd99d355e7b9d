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
    public DateTimeOffset CreatedAt { get; private set; }

    public static TaskArtifact Text(Guid taskId, int attemptNo, string content, DateTimeOffset now) =>
        new() { Id = Guid.CreateVersion7(now), TaskId = taskId, AttemptNo = attemptNo, Kind = ArtifactKind.Text, Content = Texts.WithoutNul(content), CreatedAt = now };

    public static TaskArtifact Reference(Guid taskId, int attemptNo, ArtifactKind kind, string uri, DateTimeOffset now)
    {
        if (kind == ArtifactKind.Text)
        {
            throw new DomainException("A text artifact carries content, not a URI.");
        }

        return new() { Id = Guid.CreateVersion7(now), TaskId = taskId, AttemptNo = attemptNo, Kind = kind, Uri = uri, CreatedAt = now };
    }
}
