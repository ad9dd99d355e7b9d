using System.ComponentModel.DataAnnotations;

namespace AssistenteIa.Application.Files;

/// <summary>Section <c>Files</c>: what a tenant may upload, and what a task may read from a URL or data URI.</summary>
public sealed class FilesOptions
{
    public const string Section = "Files";

    /// <summary>The largest upload, and the largest input a worker downloads (default 10 MiB).</summary>
    [Range(1024, 100 * 1024 * 1024)]
    public int MaxFileBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>How long a worker waits for a URL input.</summary>
    public TimeSpan DownloadTimeout { get; set; } = TimeSpan.FromSeconds(20);
}
