using System.Diagnostics;

namespace AssistenteIaApi.Errors;

/// <summary>Every problem leaves with type, title, status, detail and traceId, whoever produced it.</summary>
public static class ProblemDefaults
{
    public static void Complete(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var request = context.HttpContext.Request;
        problem.Status ??= context.HttpContext.Response.StatusCode;
        problem.Type ??= $"https://httpstatuses.io/{problem.Status}";
        problem.Detail ??= problem.Status switch
        {
            StatusCodes.Status404NotFound => $"Nothing is served at {request.Path}.",
            StatusCodes.Status405MethodNotAllowed => $"{request.Method} is not allowed on {request.Path}.",
            StatusCodes.Status415UnsupportedMediaType => "Send the request body as application/json.",
            _ => problem.Title ?? "The request failed.",
        };
        problem.Extensions["traceId"] = Activity.Current?.Id ?? context.HttpContext.TraceIdentifier;
    }
}
