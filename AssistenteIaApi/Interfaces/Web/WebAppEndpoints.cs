using Microsoft.Net.Http.Headers;

namespace AssistenteIaApi.Interfaces.Web;

/// <summary>
/// Serves the Angular page (built into <c>wwwroot</c> by <c>dotnet build</c>) at <c>/</c>: its files, a small
/// pre-sign-in configuration, and <c>index.html</c> for a GET that no endpoint matched outside <c>/api</c> and
/// <c>/swagger</c>, so deep links load the app. Unknown <c>/api</c> paths stay JSON 404s, and a wrong method on an API
/// route stays a 405 (routing has then chosen its 405 endpoint, so the page is not served).
/// </summary>
public static class WebAppEndpoints
{
    public const string ConfigPath = "/app-config.json";
    private const string IndexFile = "index.html";

    public static WebApplication UseWebApp(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles(new StaticFileOptions
        {
            OnPrepareResponse = context =>
            {
                if (context.File.Name == IndexFile)
                {
                    AddPageHeaders(context.Context.Response);
                }
                else
                {
                    // Angular names every bundle by its content hash; only index.html must be checked again on each load.
                    context.Context.Response.Headers[HeaderNames.CacheControl] = "public, max-age=31536000, immutable";
                    context.Context.Response.Headers[HeaderNames.XContentTypeOptions] = "nosniff";
                }
            },
        });
        app.Use(async (context, next) =>
        {
            // Checked in this order so an API request costs no file lookup.
            if (context.GetEndpoint() is null && IsAppRoute(context.Request)
                && app.Environment.WebRootFileProvider.GetFileInfo(IndexFile) is { Exists: true } index)
            {
                AddPageHeaders(context.Response);
                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.SendFileAsync(index, context.RequestAborted);
                return;
            }

            await next(context);
        });
        return app;
    }

    public static WebApplication MapWebApp(this WebApplication app)
    {
        // The seeded keys (Tenancy:SeedKeys, set in Development only) are offered on the sign-in screen in Development only.
        app.MapGet(ConfigPath, (IHostEnvironment environment, IConfiguration configuration) => Results.Json(new WebAppConfig(
                environment.EnvironmentName,
                environment.IsDevelopment()
                    ? [.. configuration.GetSection("Tenancy:SeedKeys").GetChildren().Where(seed => !string.IsNullOrEmpty(seed.Value)).Select(seed => new DevKey(seed.Key, seed.Value!))]
                    : [])))
            .AllowAnonymous()
            .ExcludeFromDescription();
        return app;
    }

    /// <summary>A page address of the app: GET or HEAD, outside the API and Swagger, not a file name.</summary>
    private static bool IsAppRoute(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        && !request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
        && !request.Path.StartsWithSegments("/swagger", StringComparison.OrdinalIgnoreCase)
        && !Path.HasExtension(request.Path.Value);

    private static void AddPageHeaders(HttpResponse response)
    {
        response.Headers[HeaderNames.CacheControl] = "no-cache";
        response.Headers[HeaderNames.XContentTypeOptions] = "nosniff";
        response.Headers[HeaderNames.XFrameOptions] = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    private sealed record WebAppConfig(string Environment, IReadOnlyList<DevKey> DevKeys);

    private sealed record DevKey(string Tenant, string Key);
}
