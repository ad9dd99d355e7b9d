using AssistenteIa.Application.Files;
using AssistenteIaApi.OpenApi;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Net.Http.Headers;

namespace AssistenteIaApi.Interfaces.Http.Controllers;

/// <summary>
/// The tenant's files: images and PDFs for the vision skills (named in a task's <c>payload.inputs</c> by id), and the
/// files tasks produce (an annotated image, for instance), which their artifacts point at.
/// </summary>
[ApiController]
[Authorize]
[Route("api/v1/files")]
public sealed class FilesController(FilesHandler handler) : ControllerBase
{
    /// <summary>
    /// Uploads a file (multipart/form-data, part <c>file</c>). Its media type is read from its content: PNG, JPEG, GIF,
    /// TIFF, BMP, WebP, PDF or UTF-8 text; anything else is a 415. The size limit is <c>Files:MaxFileBytes</c> (413).
    /// </summary>
    [HttpPost(Name = "uploadFile")]
    [Consumes("multipart/form-data")]
    [UploadSizeLimit]
    [ProducesResponseType<FileDto>(StatusCodes.Status201Created, "application/json")]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status413PayloadTooLarge, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status415UnsupportedMediaType, "application/problem+json")]
    public async Task<IActionResult> Upload(IFormFile? file, CancellationToken cancellationToken)
    {
        if (file is null)
        {
            throw AssistenteIa.Application.RequestValidationException.For("file", "Send the file as the multipart part named 'file'.");
        }

        if (file.Length > handler.MaxFileBytes)
        {
            throw new AssistenteIa.Application.PayloadTooLargeException((int)Math.Min(file.Length, int.MaxValue), handler.MaxFileBytes);
        }

        using var buffer = new MemoryStream((int)file.Length);
        await file.CopyToAsync(buffer, cancellationToken);
        var stored = await handler.UploadAsync(User.TenantId(), file.FileName, buffer.ToArray(), cancellationToken);
        return Created($"/api/v1/files/{stored.Id}", stored);
    }

    /// <summary>The file's content, as an attachment, with its sniffed media type.</summary>
    [HttpGet("{id}", Name = "downloadFile")]
    [ProducesResponseType<FileContentResult>(StatusCodes.Status200OK, "application/octet-stream")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<IActionResult> Download([DocumentedAs(typeof(Guid))] string id, CancellationToken cancellationToken)
    {
        var file = await handler.GetContentAsync(User.TenantId(), RequestValues.Id(id, "File"), cancellationToken);

        // Tenant content served from the API's origin: never rendered in place, never sniffed into something else.
        Response.Headers[HeaderNames.ContentSecurityPolicy] = "sandbox; default-src 'none'";
        Response.Headers[HeaderNames.XContentTypeOptions] = "nosniff";
        return File(file.Content, file.MediaType, file.Name);
    }

    /// <summary>The file's name, media type, size, SHA-256 and, for a file a task made, the task.</summary>
    [HttpGet("{id}/info", Name = "getFileInfo")]
    [ProducesResponseType<FileDto>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public Task<FileDto> Info([DocumentedAs(typeof(Guid))] string id, CancellationToken cancellationToken) =>
        handler.GetAsync(User.TenantId(), RequestValues.Id(id, "File"), cancellationToken);

    /// <summary>
    /// Raises the request size limit for uploads to <c>Files:MaxFileBytes</c> plus the multipart envelope (other
    /// endpoints keep the task payload's limit) and reads the form before model binding does: a body over the limit is
    /// cut off at it and answered 413, where binding turned the failed read into a missing file part (400); a body that
    /// is not a readable form is a 400 that says so.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method)]
    private sealed class UploadSizeLimitAttribute : Attribute, IAsyncResourceFilter, IOrderedFilter
    {
        public int Order => int.MinValue;

        public async Task OnResourceExecutionAsync(ResourceExecutingContext context, ResourceExecutionDelegate next)
        {
            var http = context.HttpContext;
            var limit = http.RequestServices.GetRequiredService<FilesHandler>().MaxFileBytes + 64L * 1024;
            if (http.Request.ContentLength > limit)
            {
                throw new AssistenteIa.Application.PayloadTooLargeException(limit);
            }

            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = limit;
            }

            // The body's own limit above is what a too-large upload meets; no part of it can be longer than the body.
            http.Features.Set<IFormFeature>(new FormFeature(http.Request, new FormOptions { MultipartBodyLengthLimit = limit + 1 }));
            // Only what the action consumes ([Consumes] answers 415 for other types before any filter runs).
            if (http.Request.ContentType is { } type && type.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    await http.Request.ReadFormAsync(http.RequestAborted);
                }
                catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    throw new AssistenteIa.Application.PayloadTooLargeException(limit);
                }
                catch (InvalidDataException ex)
                {
                    // A malformed multipart body; other request failures (a client too slow, 408) keep their own status.
                    throw AssistenteIa.Application.RequestValidationException.For("file", $"The multipart body could not be read: {ex.Message}");
                }
            }

            await next();
        }
    }
}
