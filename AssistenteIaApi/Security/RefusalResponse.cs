using System.Globalization;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Security;

/// <summary>A request refused before anything ran (a rate, a limit): its status, <c>Retry-After</c> and problem+json.</summary>
internal static class RefusalResponse
{
    /// <summary>Whole seconds, at least one: what <c>Retry-After</c> can say of a wait.</summary>
    public static int Seconds(TimeSpan retryAfter) => Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));

    public static async Task WriteAsync(HttpContext http, int status, string title, string detail, TimeSpan retryAfter)
    {
        http.Response.StatusCode = status;
        http.Response.Headers.RetryAfter = Seconds(retryAfter).ToString(CultureInfo.InvariantCulture);
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
