using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Exceptions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Errors;

/// <summary>The one place that turns an exception into problem+json; anything unknown is a 500 without internals.</summary>
public sealed class ProblemDetailsExceptionHandler(IProblemDetailsService problems, ILogger<ProblemDetailsExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            RequestValidationException validation => new ValidationProblemDetails(validation.Errors)
            {
                Status = StatusCodes.Status400BadRequest,
                Detail = validation.Message,
            },
            NotFoundException e => Problem(StatusCodes.Status404NotFound, e.Title, e.Message),
            ConflictException e => Problem(StatusCodes.Status409Conflict, e.Title, e.Message),
            IdempotencyKeyReusedException e => Problem(StatusCodes.Status422UnprocessableEntity, e.Title, e.Message),
            QuotaExceededException e => Problem(StatusCodes.Status429TooManyRequests, e.Title, e.Message),
            PayloadTooLargeException e => Problem(StatusCodes.Status413PayloadTooLarge, e.Title, e.Message),
            UnsupportedMediaTypeException e => Problem(StatusCodes.Status415UnsupportedMediaType, e.Title, e.Message),
            TaskAlreadyFinishedException e => Problem(StatusCodes.Status409Conflict, "Conflict", e.Message),
            InvalidTransitionException e => Problem(StatusCodes.Status409Conflict, "Conflict", e.Message),
            DomainException e => Problem(StatusCodes.Status400BadRequest, "Bad request", e.Message),
            BadHttpRequestException e => Problem(e.StatusCode, "Bad request", e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "The request body is too large." : e.Message),
            _ => null,
        };

        if (problem is null && Unreadable(exception) is { } unreadable)
        {
            // A row a later version wrote (a status or type this build does not know), read after a rollback: not the
            // client's fault, nor an unknown failure; it reads again once the later version is back.
            logger.LogWarning(exception, "A stored {Type} '{Stored}' this version does not know, read on {Method} {Path}", unreadable.ValueType.Name, unreadable.Stored, httpContext.Request.Method, httpContext.Request.Path);
            problem = Problem(StatusCodes.Status503ServiceUnavailable, "Service unavailable", "This resource was written by a newer version of the service than this instance runs; retry once the update has reached every instance.");
        }

        if (problem is null && IsTransientStorageFailure(exception))
        {
            // The database is restarting or unreachable: nothing was decided, the client may retry (with its Idempotency-Key).
            logger.LogWarning(exception, "Database unavailable on {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
            problem = Problem(StatusCodes.Status503ServiceUnavailable, "Service unavailable", "The database is not available right now; retry in a moment.");
            httpContext.Response.Headers.RetryAfter = "1";
        }

        if (problem is null)
        {
            logger.LogError(exception, "Unhandled error on {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
            problem = Problem(StatusCodes.Status500InternalServerError, "Internal server error", "An unexpected error occurred. Quote the traceId when you report it.");
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private static StoredValueUnreadableException? Unreadable(Exception exception) => exception.Find<StoredValueUnreadableException>();

    private static bool IsTransientStorageFailure(Exception exception) =>
        exception.Find<Exception>(e => e is Microsoft.EntityFrameworkCore.Storage.RetryLimitExceededException or System.Data.Common.DbException { IsTransient: true }) is not null;

    private static ProblemDetails Problem(int status, string title, string detail) => new() { Status = status, Title = title, Detail = detail };
}
