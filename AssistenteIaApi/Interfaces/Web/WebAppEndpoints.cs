using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;

namespace AssistenteIaApi.Interfaces.Web;

/// <summary>
/// Serves the Angular page (built into <c>wwwroot</c> by <c>dotnet build</c>) at <c>/</c>: its files, a small
/// pre-sign-in configuration, and <c>index.html</c> for any other GET outside <c>/api</c>, so deep links load the app.
/// Unknown <c>/api</c> paths stay JSON 404s and wrong methods on API routes stay 405s.
/// </summary>
public static class WebAppEndpoints
{
    public const string ConfigPath = "/app-config.json";

    public static WebApplication UseWebApp(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles(new StaticFileOptions
        {
            ContentTypeProvider = new FileExtensionContentTypeProvider(),
            OnPrepareResponse = context =>
            {
                var headers = context.Context.Response.Headers;
                headers[HeaderNames.XContentTypeOptions] = "nosniff";

                // Angular names every bundle by its content hash; only index.html must be checked again on each load.
                headers[HeaderNames.CacheControl] = context.File.Name == "index.html" ? "no-cache" : "public, max-age=31536000, immutable";
            },
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

        app.MapFallback("{*path:nonfile}", (HttpContext context, IWebHostEnvironment environment) =>
            {
                var index = environment.WebRootFileProvider.GetFileInfo("index.html");
                if (IsApiPath(context.Request.Path) || !index.Exists)
                {
                    return Results.NotFound();
                }

                context.Response.Headers[HeaderNames.CacheControl] = "no-cache";
                context.Response.Headers[HeaderNames.XFrameOptions] = "DENY";
                context.Response.Headers["Referrer-Policy"] = "no-referrer";
                return Results.Stream(index.CreateReadStream(), "text/html; charset=utf-8");
            })
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head]))
            .AllowAnonymous()
            .ExcludeFromDescription();
        return app;
    }

    private static bool IsApiPath(PathString path) =>
        path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/swagger", StringComparison.OrdinalIgnoreCase);

    private sealed record WebAppConfig(string Environment, IReadOnlyList<DevKey> DevKeys);

    private sealed record DevKey(string Tenant, string Key);
}
