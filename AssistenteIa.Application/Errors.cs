namespace AssistenteIa.Application;

/// <summary>Errors the application raises on purpose; the API maps each to one problem+json status.</summary>
public abstract class ApplicationProblemException(string title, string detail) : Exception(detail)
{
    public string Title { get; } = title;
}

public sealed class NotFoundException(string detail) : ApplicationProblemException("Not found", detail);

public sealed class ConflictException(string detail) : ApplicationProblemException("Conflict", detail);

/// <summary>The same Idempotency-Key was used with a different request.</summary>
public sealed class IdempotencyKeyReusedException(string key)
    : ApplicationProblemException(
        "Idempotency-Key reused",
        $"The Idempotency-Key '{key}' was already used with a different request body. Use a new key for a new request.");

public sealed class PayloadTooLargeException : ApplicationProblemException
{
    public PayloadTooLargeException(int size, int limit)
        : base("Payload too large", $"The payload is {size} bytes; the limit is {limit} bytes.")
    {
    }

    /// <summary>A body cut off at its limit: how large it would have been is not known.</summary>
    public PayloadTooLargeException(long limit)
        : base("Payload too large", $"The request body is larger than its limit of {limit} bytes.")
    {
    }
}

/// <summary>The content is of a type the platform does not take (415).</summary>
public sealed class UnsupportedMediaTypeException(string detail) : ApplicationProblemException("Unsupported media type", detail);

public sealed class RequestValidationException(IDictionary<string, string[]> errors)
    : ApplicationProblemException("One or more validation errors occurred.", string.Join(" ", errors.SelectMany(e => e.Value)))
{
    public IDictionary<string, string[]> Errors { get; } = errors;

    public static RequestValidationException For(string field, string message) => new(new Dictionary<string, string[]> { [field] = [message] });
}

/// <summary>A per-tenant limit was reached; retrying later may succeed.</summary>
public sealed class QuotaExceededException(string detail) : ApplicationProblemException("Quota exceeded", detail);
