using System.Net;
using AssistenteIa.Application;
using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Infrastructure.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Skills;

/// <summary>One input of a task, read: its bytes and the media type sniffed from them.</summary>
public sealed record InputFile(string Name, string MediaType, byte[] Content);

/// <summary>
/// Reads a task's <c>payload.inputs</c> for the skills: an uploaded file of the task's tenant, a data URI, or a URL
/// fetched through the SSRF guard (checked at each connection) with a timeout and the file size limit. What can never
/// work (a missing file, a 4xx, too large, not an accepted type) fails the attempt as permanent; what may work later
/// (a timeout, a 5xx, a refused connection) as transient.
/// </summary>
public sealed class TaskInputReader(IAppDbContext db, OutboundUrlPolicy urls, IOptions<FilesOptions> options)
{
    private static HttpClient? _http;

    public async Task<IReadOnlyList<InputFile>> ReadAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var inputs = request.Payload.Inputs ?? [];
        var files = new List<InputFile>(inputs.Count);
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            var file = input switch
            {
                { FileId: { } id } => await ReadFileAsync(request.TenantId, id, cancellationToken),
                { DataUri: { } dataUri } => FromBytes($"input-{i + 1}", DataUri.Parse(dataUri)?.Content ?? throw Permanent("InvalidInput", $"Input {i + 1} is not a base64 data URI.")),
                { Url: { } url } => await DownloadAsync(url, i, cancellationToken),
                _ => throw Permanent("InvalidInput", $"Input {i + 1} names no fileId, url or dataUri."),
            };
            files.Add(file);
        }

        return files;
    }

    private async Task<InputFile> ReadFileAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        var file = await db.Files.AsNoTracking()
            .Where(f => f.Id == id && f.TenantId == tenantId)
            .Select(f => new InputFile(f.Name, f.MediaType, f.Content))
            .FirstOrDefaultAsync(cancellationToken);
        return file ?? throw Permanent("InputNotFound", $"File {id} does not exist (any more) for this tenant.");
    }

    private async Task<InputFile> DownloadAsync(string url, int index, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var http = LazyInitializer.EnsureInitialized(ref _http, () => urls.CreateHttpClient(TimeSpan.FromSeconds(10), "AssistenteIa-Inputs"));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.DownloadTimeout);
        try
        {
            using var response = await http.GetAsync(new Uri(url), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (status is >= 500 or (int)HttpStatusCode.RequestTimeout or (int)HttpStatusCode.TooManyRequests)
            {
                throw new TaskExecutionException(ErrorKind.Transient, $"InputHttp{status}", $"Input {index + 1}: the server answered HTTP {status}.");
            }

            if (!response.IsSuccessStatusCode)
            {
                throw Permanent($"InputHttp{status}", $"Input {index + 1}: the server answered HTTP {status}.");
            }

            if (response.Content.Headers.ContentLength > settings.MaxFileBytes)
            {
                throw Permanent("InputTooLarge", $"Input {index + 1} is larger than {settings.MaxFileBytes} bytes.");
            }

            var bytes = await LimitedBody.ReadAsync(response.Content, settings.MaxFileBytes, timeout.Token)
                ?? throw Permanent("InputTooLarge", $"Input {index + 1} is larger than {settings.MaxFileBytes} bytes.");
            var name = Path.GetFileName(new Uri(url).AbsolutePath);
            return FromBytes(string.IsNullOrEmpty(name) ? $"input-{index + 1}" : name, bytes);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TaskExecutionException(ErrorKind.Transient, "InputTimeout", $"Input {index + 1}: the server did not answer within {settings.DownloadTimeout}.");
        }
        catch (HttpRequestException ex) when (ex.Find<OutboundUrlRefusedException>() is { } refused)
        {
            throw Permanent("InputUrlRefused", $"Input {index + 1}: {refused.Reason} Tasks may not reach it.");
        }
        catch (HttpRequestException ex)
        {
            throw new TaskExecutionException(ErrorKind.Transient, "InputUnreachable", $"Input {index + 1}: the server could not be reached.", inner: ex);
        }
    }

    private InputFile FromBytes(string name, byte[] bytes)
    {
        if (bytes.Length > options.Value.MaxFileBytes)
        {
            throw Permanent("InputTooLarge", $"{name} is larger than {options.Value.MaxFileBytes} bytes.");
        }

        var mediaType = MediaTypes.Sniff(bytes) ?? throw Permanent("UnsupportedInput", $"{name} is not an image, a PDF or UTF-8 text.");
        return new InputFile(name, mediaType, bytes);
    }

    private static TaskExecutionException Permanent(string code, string message) => new(ErrorKind.Permanent, code, message);
}
